#!/usr/bin/env python3
"""Asks an X window to close the way a window manager's close button does:
a WM_PROTOCOLS / WM_DELETE_WINDOW client message (ICCCM 4.2.8.1).

usage: wm-close.py WINDOW_ID   (DISPLAY from the environment)
"""
import sys

from Xlib import X, display, protocol

d = display.Display()
window = d.create_resource_object("window", int(sys.argv[1], 0))
protocols = d.intern_atom("WM_PROTOCOLS")
delete = d.intern_atom("WM_DELETE_WINDOW")
event = protocol.event.ClientMessage(
    window=window, client_type=protocols, data=(32, [delete, X.CurrentTime, 0, 0, 0])
)
window.send_event(event, event_mask=X.NoEventMask)
d.flush()
d.close()
