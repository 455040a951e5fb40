//! The live feed in the browser: a websocket to `/api/v1/live` (authorised by
//! the session cookie) that hands each message to the page and reconnects by
//! itself, a second after the connection drops, until the page is left.

use herald_engine::model::LiveMessage;
use leptos::prelude::*;

/// Opens the feed once the page is interactive; `connected` tells the page
/// whether updates are flowing. `types` is the `?types=` filter.
pub fn use_live_feed(
    types: &'static str,
    connected: RwSignal<bool>,
    on_message: impl Fn(LiveMessage) + 'static,
) {
    #[cfg(feature = "hydrate")]
    {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let stopped = Arc::new(AtomicBool::new(false));
        let handler: std::rc::Rc<dyn Fn(LiveMessage)> = std::rc::Rc::new(on_message);
        let started = stopped.clone();
        Effect::new(move |_| socket::connect(types, handler.clone(), connected, started.clone()));
        on_cleanup(move || stopped.store(true, Ordering::Relaxed));
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (types, connected, on_message);
    }
}

#[cfg(feature = "hydrate")]
mod socket {
    use std::rc::Rc;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use herald_engine::model::LiveMessage;
    use leptos::prelude::*;
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;
    use web_sys::{MessageEvent, WebSocket};

    /// Waits this long before reconnecting after the socket drops.
    const RECONNECT: Duration = Duration::from_secs(1);

    pub fn connect(
        types: &'static str,
        on_message: Rc<dyn Fn(LiveMessage)>,
        connected: RwSignal<bool>,
        stopped: Arc<AtomicBool>,
    ) {
        if stopped.load(Ordering::Relaxed) {
            return;
        }
        let Some(window) = web_sys::window() else {
            return;
        };
        let location = window.location();
        let scheme = match location.protocol().as_deref() {
            Ok("https:") => "wss",
            _ => "ws",
        };
        let host = location.host().unwrap_or_default();
        let url = format!("{scheme}://{host}/api/v1/live?types={types}");
        let retry = {
            let (on_message, stopped) = (on_message.clone(), stopped.clone());
            move || {
                let (on_message, stopped) = (on_message.clone(), stopped.clone());
                set_timeout(
                    move || connect(types, on_message, connected, stopped),
                    RECONNECT,
                );
            }
        };
        let Ok(ws) = WebSocket::new(&url) else {
            retry();
            return;
        };

        let open = Closure::<dyn FnMut()>::new(move || connected.set(true));
        ws.set_onopen(Some(open.as_ref().unchecked_ref()));
        open.forget();

        let message = {
            let (ws, stopped) = (ws.clone(), stopped.clone());
            Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                if stopped.load(Ordering::Relaxed) {
                    let _ = ws.close();
                    return;
                }
                if let Some(text) = event.data().as_string()
                    && let Ok(message) = serde_json::from_str::<LiveMessage>(&text)
                {
                    on_message(message);
                }
            })
        };
        ws.set_onmessage(Some(message.as_ref().unchecked_ref()));
        message.forget();

        let close = Closure::<dyn FnMut()>::new(move || {
            connected.set(false);
            if !stopped.load(Ordering::Relaxed) {
                retry();
            }
        });
        ws.set_onclose(Some(close.as_ref().unchecked_ref()));
        close.forget();
    }
}
