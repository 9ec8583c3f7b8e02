import type { ServiceEvent } from "./bindings/ServiceEvent";

export type ViewId = "status" | "recipients" | "activity" | "keys" | "settings";

export interface View {
  id: ViewId;
  /** Nav label and h2 of the view. */
  title: string;
  /** Build the view into `root` (emptied by the caller) and load its data. */
  mount(root: HTMLElement): Promise<void>;
  /** Re-read the data shown (an engine event arrived). Must keep what the
   * person is typing or has opened. */
  refresh(ev: ServiceEvent | null): Promise<void>;
}
