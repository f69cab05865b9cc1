//! Agent forwarding (OpenSSH PROTOCOL §"agent forwarding"): the client asks with "auth-agent-req@openssh.com" on a
//! session channel; the server then opens one "auth-agent@openssh.com" channel per connection to its forwarded
//! agent socket. Kept apart from the general channel code: only the table flag and two hooks live there.

use super::channel::{Channel, ChannelState};
use super::{ChannelId, ChannelRequest, Connection, Event};
use crate::config::Role;
use crate::error::Result;
use crate::wire::{msg, Writer};

/// The channel request a client sends to ask for agent forwarding.
pub const AGENT_REQUEST: &str = "auth-agent-req@openssh.com";
/// The channel type the server opens for each connection to the forwarded agent.
pub const AGENT_CHANNEL: &str = "auth-agent@openssh.com";

impl Connection {
    /// Server: opens an "auth-agent@openssh.com" channel to the client (after it asked for agent forwarding);
    /// `Event::ChannelOpened` or `Event::ChannelOpenFailed` follows.
    pub fn channel_open_agent(&mut self) -> Result<ChannelId> {
        self.channel_open_kind(AGENT_CHANNEL, &[])
    }

    /// Whether this client asked for agent forwarding on any session.
    pub fn agent_forwarding_requested(&self) -> bool {
        self.channels.agent_requested
    }

    /// Called for each channel request we send: a client that asks for agent forwarding will accept the server's
    /// agent channels from then on.
    pub(super) fn note_agent_request(&mut self, req: &ChannelRequest) {
        if matches!(req, ChannelRequest::AuthAgent) && self.cfg.role == Role::Client {
            self.channels.agent_requested = true;
        }
    }

    /// The peer opens an agent channel. Only a client that asked for forwarding takes it (as an
    /// `Event::ChannelOpenRequest` the application accepts once it reached its agent); anything else is refused, so
    /// a server cannot reach our agent unless we chose to forward it, and a client cannot open one to a server.
    pub(super) fn on_agent_channel_open(&mut self, remote_id: u32, window: u32, max_packet: u32) -> Result<()> {
        let refusal = if self.cfg.role != Role::Client || !self.channels.agent_requested {
            Some((1, "agent forwarding was not requested"))
        } else if self.channels.map.len() >= self.cfg.max_channels {
            Some((4, "too many channels"))
        } else {
            None
        };
        if let Some((reason, text)) = refusal {
            let mut p = Vec::new();
            Writer::new(&mut p)
                .u8(msg::CHANNEL_OPEN_FAILURE)
                .u32(remote_id)
                .u32(reason)
                .string(text)
                .string("");
            return self.send(&p);
        }
        let mut ch = Channel::new(AGENT_CHANNEL.into(), ChannelState::PeerOpening, self.cfg.channel_window);
        ch.remote_id = remote_id;
        ch.remote_window = window as u64;
        ch.remote_max_packet = max_packet;
        let id = self.channels.insert(ch);
        self.events.push_back(Event::ChannelOpenRequest {
            id,
            kind: AGENT_CHANNEL.into(),
        });
        Ok(())
    }
}
