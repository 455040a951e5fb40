//! The live feed's hub: the dispatcher and the replay runner publish typed
//! messages, each websocket subscribes. A broadcast channel with a bounded
//! buffer: a subscriber that falls behind loses its place (and is dropped by
//! the websocket handler) instead of slowing anyone down.

use tokio::sync::broadcast;

use crate::model::{LiveMessage, TenantId};

/// Messages kept for a subscriber that has not read them yet.
const BUFFER: usize = 4_096;

pub struct LiveHub {
    sender: broadcast::Sender<(TenantId, LiveMessage)>,
}

impl Default for LiveHub {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(BUFFER).0,
        }
    }
}

impl LiveHub {
    /// Sends to every subscriber; with none, the message is simply dropped.
    pub fn publish(&self, tenant: TenantId, message: LiveMessage) {
        let _ = self.sender.send((tenant, message));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<(TenantId, LiveMessage)> {
        self.sender.subscribe()
    }

    /// Whether anyone is listening (to skip building messages for no one).
    pub fn has_subscribers(&self) -> bool {
        self.sender.receiver_count() > 0
    }
}
