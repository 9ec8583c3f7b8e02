import { defineConfig } from "vite";

// Tauri loads dist/ from disk: relative asset paths, no source maps,
// nothing fetched at run time. `npm run mock` serves mock/index.html,
// which stands the engine in with fixture data (see README.md).
export default defineConfig({
  base: "./",
  clearScreen: false,
  server: { port: 5173, strictPort: true, host: "127.0.0.1" },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    target: "es2022",
  },
});
