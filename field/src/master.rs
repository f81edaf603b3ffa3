//! The Modbus master on a transport: tokio-modbus over a serial port (tokio-serial) or TCP,
//! each request bounded by a timeout, its failures told apart (no answer, an exception, a
//! garbled frame, the port itself).

use std::time::Duration;

use tokio_modbus::client::Context;
use tokio_modbus::prelude::{Client, Request, Response, Slave, SlaveContext};
use tokio_serial::SerialPortBuilderExt;

use crate::config::{Parity, Transport};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("no answer within the timeout")]
    Timeout,
    #[error("exception {0}")]
    Exception(String),
    /// A frame that failed its CRC, or answered another request.
    #[error("garbled: {0}")]
    Garbled(String),
    #[error("{0}")]
    Io(String),
}

pub struct Master {
    ctx: Context,
    transport: Transport,
    /// A reply must start within this of the request's end.
    timeout: Duration,
    /// A character's time on the wire, s.
    char_s: f64,
    /// When the last reply ended: on a serial line the next request waits 3.5 characters of
    /// silence after it, which is how RTU frames are told apart.
    quiet_from: Option<tokio::time::Instant>,
}

const CONNECT: Duration = Duration::from_secs(3);

async fn connect(t: &Transport) -> Result<Context, LinkError> {
    match t {
        Transport::Rtu {
            port,
            baud,
            parity,
            stop_bits,
        } => {
            let parity = match parity {
                Parity::Even => tokio_serial::Parity::Even,
                Parity::Odd => tokio_serial::Parity::Odd,
                Parity::None => tokio_serial::Parity::None,
            };
            let stop = if *stop_bits == 2 {
                tokio_serial::StopBits::Two
            } else {
                tokio_serial::StopBits::One
            };
            let s = tokio_serial::new(port, *baud)
                .data_bits(tokio_serial::DataBits::Eight)
                .parity(parity)
                .stop_bits(stop)
                .open_native_async()
                .map_err(|e| LinkError::Io(format!("{port}: {e}")))?;
            Ok(tokio_modbus::client::rtu::attach(s))
        }
        Transport::ChirpStack { .. } => Err(LinkError::Io(
            "LoRaWAN nodes are heard through ChirpStack, not polled".into(),
        )),
        Transport::Tcp { address, .. } => {
            let a = address
                .parse()
                .map_err(|e| LinkError::Io(format!("{address}: {e}")))?;
            // A gateway that is not there may not refuse either: give it a few seconds.
            tokio::time::timeout(CONNECT, tokio_modbus::client::tcp::connect(a))
                .await
                .map_err(|_| LinkError::Io(format!("{address}: no connection within {CONNECT:?}")))?
                .map_err(|e| LinkError::Io(format!("{address}: {e}")))
        }
    }
}

impl Master {
    pub async fn open(t: &Transport, timeout: Duration) -> Result<Master, LinkError> {
        Ok(Master {
            ctx: connect(t).await?,
            transport: t.clone(),
            timeout,
            char_s: f64::from(t.bits_per_char()) / f64::from(t.baud().unwrap_or(9600)),
            quiet_from: None,
        })
    }

    /// A master on a line with no wire time (an emulated line on virtual time): no gap
    /// between frames, no wait for a late reply.
    pub fn without_wire_time(mut self) -> Master {
        self.char_s = 0.0;
        self
    }

    /// The time `bytes` characters take on the wire.
    fn wire(&self, bytes: usize) -> Duration {
        Duration::from_secs_f64(bytes as f64 * self.char_s)
    }

    /// Ask `slave`: the reply must start within the timeout, and is given the time its
    /// `reply_len` bytes (RTU framing) and the request's `req_len` take on the wire besides.
    async fn ask(
        &mut self,
        slave: u8,
        req: Request<'static>,
        req_len: usize,
        reply_len: usize,
    ) -> Result<Response, LinkError> {
        self.ctx.set_slave(Slave(slave));
        if let (Some(t), Transport::Rtu { .. }, true) =
            (self.quiet_from, &self.transport, self.char_s > 0.0)
        {
            tokio::time::sleep_until(t + Duration::from_secs_f64(3.5 * self.char_s)).await;
        }
        let limit = self.timeout + self.wire(req_len + reply_len);
        let r = tokio::time::timeout(limit, self.ctx.call(req)).await;
        self.quiet_from = Some(tokio::time::Instant::now());
        match r {
            Err(_) => {
                // A late reply still on its way must not meet the next request: the line is
                // left quiet for its time and 3.5 characters more.
                if self.char_s > 0.0 {
                    tokio::time::sleep(self.wire(reply_len + 4)).await;
                }
                Err(LinkError::Timeout)
            }
            Ok(Ok(Ok(v))) => Ok(v),
            Ok(Ok(Err(code))) => Err(LinkError::Exception(format!("{code:?}"))),
            Ok(Err(tokio_modbus::Error::Protocol(e))) => Err(LinkError::Garbled(e.to_string())),
            Ok(Err(tokio_modbus::Error::Transport(e))) => {
                if e.kind() == std::io::ErrorKind::InvalidData {
                    return Err(LinkError::Garbled(e.to_string()));
                }
                // The port or the connection failed: reconnect for the next request.
                if let Ok(ctx) = connect(&self.transport).await {
                    self.ctx = ctx;
                }
                Err(LinkError::Io(e.to_string()))
            }
        }
    }

    /// Registers read; a reply of another length than asked is garbled. (tokio-modbus's own
    /// readers assert the length, which a noisy line must not be able to turn into a panic.)
    fn registers(r: Response, count: u16) -> Result<Vec<u16>, LinkError> {
        match r {
            Response::ReadInputRegisters(w) | Response::ReadHoldingRegisters(w)
                if w.len() == usize::from(count) =>
            {
                Ok(w)
            }
            other => Err(LinkError::Garbled(format!(
                "asked for {count} registers, answered {other:?}"
            ))),
        }
    }

    pub async fn read_input(
        &mut self,
        slave: u8,
        start: u16,
        count: u16,
    ) -> Result<Vec<u16>, LinkError> {
        let req = Request::ReadInputRegisters(start, count);
        let r = self.ask(slave, req, 8, 5 + 2 * usize::from(count)).await?;
        Self::registers(r, count)
    }

    pub async fn read_holding(
        &mut self,
        slave: u8,
        start: u16,
        count: u16,
    ) -> Result<Vec<u16>, LinkError> {
        let req = Request::ReadHoldingRegisters(start, count);
        let r = self.ask(slave, req, 8, 5 + 2 * usize::from(count)).await?;
        Self::registers(r, count)
    }

    pub async fn write(&mut self, slave: u8, start: u16, values: &[u16]) -> Result<(), LinkError> {
        let req = Request::WriteMultipleRegisters(start, values.to_vec().into());
        match self.ask(slave, req, 9 + 2 * values.len(), 8).await? {
            Response::WriteMultipleRegisters(a, n)
                if a == start && usize::from(n) == values.len() =>
            {
                Ok(())
            }
            other => Err(LinkError::Garbled(format!("a write answered {other:?}"))),
        }
    }

    /// A function outside the standard ones (the PZEM-004T's energy reset): its reply data.
    pub async fn custom(
        &mut self,
        slave: u8,
        function: u8,
        data: &[u8],
    ) -> Result<Vec<u8>, LinkError> {
        let req = Request::Custom(function, data.to_vec().into());
        match self.ask(slave, req, 4 + data.len(), 4 + data.len()).await? {
            Response::Custom(f, d) if f == function => Ok(d.to_vec()),
            other => Err(LinkError::Garbled(format!("{other:?}"))),
        }
    }
}
