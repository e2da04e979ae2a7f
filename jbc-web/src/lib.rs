//! JBC in the browser (filled in by the web issue).
#![no_std]
