//! The Modbus master on a transport: tokio-modbus over a serial port (tokio-serial) or TCP,
//! each request bounded by a timeout, its failures told apart (no answer, an exception, a
//! garbled frame, the port itself).

use std::time::Duration;

use tokio_modbus::client::Context;
use tokio_modbus::prelude::{Client, Reader, Request, Response, Slave, SlaveContext, Writer};
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
    timeout: Duration,
    /// After a timeout, the line is left quiet this long so that a late reply does not meet
    /// the next request (3.5 characters and then some).
    settle: Duration,
}

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
        Transport::Tcp { address, .. } => {
            let a = address
                .parse()
                .map_err(|e| LinkError::Io(format!("{address}: {e}")))?;
            tokio_modbus::client::tcp::connect(a)
                .await
                .map_err(|e| LinkError::Io(format!("{address}: {e}")))
        }
    }
}

impl Master {
    pub async fn open(t: &Transport, timeout: Duration) -> Result<Master, LinkError> {
        let char_s = f64::from(t.bits_per_char()) / f64::from(t.baud());
        Ok(Master {
            ctx: connect(t).await?,
            transport: t.clone(),
            timeout,
            settle: Duration::from_secs_f64(3.5 * char_s) + Duration::from_millis(20),
        })
    }

    /// What a request came to; a transport failure reconnects for the next one.
    async fn finish<T>(
        &mut self,
        r: Result<tokio_modbus::Result<T>, tokio::time::error::Elapsed>,
    ) -> Result<T, LinkError> {
        match r {
            Err(_) => {
                tokio::time::sleep(self.settle).await;
                Err(LinkError::Timeout)
            }
            Ok(Ok(Ok(v))) => Ok(v),
            Ok(Ok(Err(code))) => Err(LinkError::Exception(format!("{code:?}"))),
            Ok(Err(tokio_modbus::Error::Protocol(e))) => Err(LinkError::Garbled(e.to_string())),
            Ok(Err(tokio_modbus::Error::Transport(e))) => {
                if e.kind() == std::io::ErrorKind::InvalidData {
                    return Err(LinkError::Garbled(e.to_string()));
                }
                if let Ok(ctx) = connect(&self.transport).await {
                    self.ctx = ctx;
                }
                Err(LinkError::Io(e.to_string()))
            }
        }
    }

    pub async fn read_input(
        &mut self,
        slave: u8,
        start: u16,
        count: u16,
    ) -> Result<Vec<u16>, LinkError> {
        self.ctx.set_slave(Slave(slave));
        let r =
            tokio::time::timeout(self.timeout, self.ctx.read_input_registers(start, count)).await;
        self.finish(r).await
    }

    pub async fn read_holding(
        &mut self,
        slave: u8,
        start: u16,
        count: u16,
    ) -> Result<Vec<u16>, LinkError> {
        self.ctx.set_slave(Slave(slave));
        let r =
            tokio::time::timeout(self.timeout, self.ctx.read_holding_registers(start, count)).await;
        self.finish(r).await
    }

    pub async fn write(&mut self, slave: u8, start: u16, values: &[u16]) -> Result<(), LinkError> {
        self.ctx.set_slave(Slave(slave));
        let r = tokio::time::timeout(
            self.timeout,
            self.ctx.write_multiple_registers(start, values),
        )
        .await;
        self.finish(r).await
    }

    /// A function outside the standard ones (the PZEM-004T's energy reset): its reply data.
    pub async fn custom(
        &mut self,
        slave: u8,
        function: u8,
        data: &[u8],
    ) -> Result<Vec<u8>, LinkError> {
        self.ctx.set_slave(Slave(slave));
        let req = Request::Custom(function, data.to_vec().into());
        let r = tokio::time::timeout(self.timeout, self.ctx.call(req)).await;
        match self.finish(r).await? {
            Response::Custom(f, d) if f == function => Ok(d.to_vec()),
            other => Err(LinkError::Garbled(format!("{other:?}"))),
        }
    }
}
