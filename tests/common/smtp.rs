//! A throwaway SMTP server for the black-box tests: the app under test sends
//! mail over a real socket with its real client, and the test reads back what
//! arrived. It accepts any credentials and any addresses, keeps everything in
//! memory, and can be told to refuse transactions to exercise retries.
//!
//! Refusals happen at the end of DATA (451 after the whole message has been
//! sent), because that is the case a sender most easily gets wrong: the bytes
//! went out, yet the message was not accepted.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

const HOST: &str = "127.0.0.1";

// Base64 of the usual AUTH LOGIN prompts; lettre matches on the decoded text.
const LOGIN_USERNAME_PROMPT: &str = "334 VXNlcm5hbWU6";
const LOGIN_PASSWORD_PROMPT: &str = "334 UGFzc3dvcmQ6";

pub struct SmtpServer {
    port: u16,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// Raw RFC 5322 message, dot-unstuffed, without the final CRLF.CRLF.
    pub data: Vec<u8>,
    /// Username and password, if the client authenticated.
    pub auth: Option<(String, String)>,
}

struct Shared {
    // A watch channel rather than a Mutex so that `wait_for` can sleep until
    // a message lands instead of polling.
    mails: watch::Sender<Vec<ReceivedMail>>,
    refuse_budget: AtomicUsize,
    refused: AtomicUsize,
    reject_budget: AtomicUsize,
    hang_budget: AtomicUsize,
}

impl SmtpServer {
    /// Listens on 127.0.0.1:0 and serves until dropped.
    pub async fn start() -> SmtpServer {
        let listener = TcpListener::bind((HOST, 0))
            .await
            .expect("bind test SMTP server");
        let port = listener.local_addr().expect("local addr").port();
        let shared = Arc::new(Shared {
            mails: watch::Sender::new(Vec::new()),
            refuse_budget: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
            reject_budget: AtomicUsize::new(0),
            hang_budget: AtomicUsize::new(0),
        });
        let accept = tokio::spawn(accept_loop(listener, shared.clone()));
        SmtpServer {
            port,
            shared,
            accept,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `smtp://127.0.0.1:{port}`; add `user:pass@` yourself if the client
    /// should authenticate.
    pub fn url(&self) -> String {
        format!("smtp://{HOST}:{}", self.port)
    }

    /// The next `n` transactions are answered with a transient 451 once their
    /// DATA is complete, and are not recorded; later ones are accepted.
    /// Replaces any budget left from an earlier call.
    pub fn refuse_next(&self, n: usize) {
        self.shared.refuse_budget.store(n, Ordering::SeqCst);
    }

    /// The next `n` transactions are answered with a permanent 554 once
    /// their DATA is complete, and are not recorded.
    pub fn reject_next(&self, n: usize) {
        self.shared.reject_budget.store(n, Ordering::SeqCst);
    }

    /// The next `n` transactions get no answer to their DATA: the server
    /// keeps the connection open and says nothing until the client gives
    /// up. They are not recorded.
    pub fn hang_next(&self, n: usize) {
        self.shared.hang_budget.store(n, Ordering::SeqCst);
    }

    /// Counts refused transactions so far.
    pub fn refused(&self) -> usize {
        self.shared.refused.load(Ordering::SeqCst)
    }

    /// Accepted messages, oldest first.
    pub fn received(&self) -> Vec<ReceivedMail> {
        self.shared.mails.borrow().clone()
    }

    /// Waits until at least `n` messages have been accepted since the server
    /// started, or the timeout passes; returns what was received either way,
    /// so the caller's assertion shows what did arrive.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let mut rx = self.shared.mails.subscribe();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|mails| mails.len() >= n)).await;
        self.received()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        // The accept task owns the listener and the JoinSet of connections,
        // so aborting it closes the port and every open session too.
        self.accept.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut sessions = JoinSet::new();
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                // Reap finished sessions so a long test doesn't accumulate them.
                while sessions.try_join_next().is_some() {}
                sessions.spawn(serve(stream, shared.clone()));
            }
            // Typically EMFILE under a burst of connections; backing off
            // beats spinning, and the pending clients get served later.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

async fn serve(stream: TcpStream, shared: Arc<Shared>) {
    // Replies are small writes; without NODELAY, Nagle plus delayed ACKs
    // can add tens of milliseconds to every exchange.
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    let mut session = Session {
        rd: BufReader::new(rd),
        wr,
        shared,
        greeted: false,
        auth: None,
        mail_from: None,
        rcpt_to: Vec::new(),
    };
    // An I/O error only means the client went away; nothing to report.
    let _ = session.run().await;
}

struct Session {
    // Line-buffered reads keep pipelined commands intact: whatever arrives
    // after the current line stays in the buffer for the next one.
    rd: BufReader<OwnedReadHalf>,
    wr: OwnedWriteHalf,
    shared: Arc<Shared>,
    greeted: bool,
    auth: Option<(String, String)>,
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
}

enum Flow {
    Continue,
    Close,
}

/// Decrement-if-positive in one step, so concurrent sessions never
/// refuse more than the budget.
fn take(budget: &AtomicUsize) -> bool {
    budget
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

impl Session {
    async fn run(&mut self) -> io::Result<()> {
        self.reply(&format!("220 {HOST} ESMTP ishara test server"))
            .await?;
        while let Some(line) = self.read_line().await? {
            if let Flow::Close = self.command(&line).await? {
                break;
            }
        }
        Ok(())
    }

    async fn command(&mut self, line: &str) -> io::Result<Flow> {
        let (verb, arg) = match line.split_once(' ') {
            Some((verb, arg)) => (verb, arg.trim()),
            None => (line, ""),
        };
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                self.reset_transaction();
                self.greeted = true;
                self.reply(&format!(
                    "250-{HOST} greets {arg}\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n\
                     250-PIPELINING\r\n250 AUTH PLAIN LOGIN"
                ))
                .await?;
            }
            "HELO" => {
                self.reset_transaction();
                self.greeted = true;
                self.reply(&format!("250 {HOST} greets {arg}")).await?;
            }
            "AUTH" => self.auth(arg).await?,
            "MAIL" => self.mail(arg).await?,
            "RCPT" => self.rcpt(arg).await?,
            "DATA" => self.data().await?,
            "RSET" => {
                self.reset_transaction();
                self.reply("250 2.0.0 OK").await?;
            }
            "NOOP" => self.reply("250 2.0.0 OK").await?,
            "QUIT" => {
                self.reply("221 2.0.0 Bye").await?;
                return Ok(Flow::Close);
            }
            _ => self.reply("502 5.5.2 Command not implemented").await?,
        }
        Ok(Flow::Continue)
    }

    async fn auth(&mut self, arg: &str) -> io::Result<()> {
        if !self.greeted {
            return self.reply("503 5.5.1 Say EHLO first").await;
        }
        if self.auth.is_some() {
            return self.reply("503 5.5.1 Already authenticated").await;
        }
        if self.mail_from.is_some() {
            return self
                .reply("503 5.5.1 AUTH not permitted during a mail transaction")
                .await;
        }
        let mut words = arg.split_whitespace();
        let mechanism = words.next().unwrap_or("").to_ascii_uppercase();
        let initial = words.next().map(str::to_owned);

        let credentials = match mechanism.as_str() {
            "PLAIN" => {
                let Some(response) = self.response_or_challenge(initial, "334 ").await? else {
                    return Ok(());
                };
                decode_plain(&response)
            }
            "LOGIN" => {
                let Some(user) = self
                    .response_or_challenge(initial, LOGIN_USERNAME_PROMPT)
                    .await?
                else {
                    return Ok(());
                };
                let Some(pass) = self
                    .response_or_challenge(None, LOGIN_PASSWORD_PROMPT)
                    .await?
                else {
                    return Ok(());
                };
                decode_text(&user).zip(decode_text(&pass))
            }
            _ => {
                return self
                    .reply("504 5.5.4 Unrecognized authentication type")
                    .await;
            }
        };
        match credentials {
            Some(credentials) => {
                self.auth = Some(credentials);
                self.reply("235 2.7.0 Authentication successful").await
            }
            None => self.reply("501 5.5.2 Malformed credentials").await,
        }
    }

    /// Returns the client's base64 response, asking for it with `prompt` if
    /// it was not sent inline; `None` once the exchange has already been
    /// answered (client cancelled with `*`, or hung up).
    async fn response_or_challenge(
        &mut self,
        initial: Option<String>,
        prompt: &str,
    ) -> io::Result<Option<String>> {
        let response = match initial {
            Some(response) => response,
            None => {
                self.reply(prompt).await?;
                match self.read_line().await? {
                    Some(line) => line.trim().to_owned(),
                    None => return Ok(None),
                }
            }
        };
        if response == "*" {
            self.reply("501 5.0.0 Authentication cancelled").await?;
            return Ok(None);
        }
        Ok(Some(response))
    }

    async fn mail(&mut self, arg: &str) -> io::Result<()> {
        if !self.greeted {
            return self.reply("503 5.5.1 Say EHLO first").await;
        }
        if self.mail_from.is_some() {
            return self.reply("503 5.5.1 Nested MAIL command").await;
        }
        match parse_path(arg, "FROM:") {
            Some(from) => {
                self.mail_from = Some(from);
                self.reply("250 2.1.0 OK").await
            }
            None => self.reply("501 5.5.4 Syntax: MAIL FROM:<address>").await,
        }
    }

    async fn rcpt(&mut self, arg: &str) -> io::Result<()> {
        if self.mail_from.is_none() {
            return self.reply("503 5.5.1 Need MAIL before RCPT").await;
        }
        match parse_path(arg, "TO:").filter(|to| !to.is_empty()) {
            Some(to) => {
                self.rcpt_to.push(to);
                self.reply("250 2.1.5 OK").await
            }
            None => self.reply("501 5.5.4 Syntax: RCPT TO:<address>").await,
        }
    }

    async fn data(&mut self) -> io::Result<()> {
        if self.mail_from.is_none() {
            return self.reply("503 5.5.1 Need MAIL before DATA").await;
        }
        if self.rcpt_to.is_empty() {
            return self.reply("503 5.5.1 Need RCPT before DATA").await;
        }
        self.reply("354 End data with <CR><LF>.<CR><LF>").await?;

        let mut data = Vec::new();
        loop {
            let start = data.len();
            if self.rd.read_until(b'\n', &mut data).await? == 0 {
                // Hung up mid-message: the transaction is simply lost, as
                // with a real server.
                return Ok(());
            }
            match &data[start..] {
                b".\r\n" | b".\n" => {
                    data.truncate(start);
                    break;
                }
                [b'.', ..] => {
                    data.remove(start);
                }
                _ => {}
            }
        }
        // The CRLF before the final dot belongs to the terminator, not to
        // the message, so a message sent without a trailing newline comes
        // back byte for byte.
        if data.ends_with(b"\r\n") {
            data.truncate(data.len() - 2);
        } else if data.ends_with(b"\n") {
            data.truncate(data.len() - 1);
        }

        let mail = ReceivedMail {
            mail_from: self.mail_from.take().unwrap_or_default(),
            rcpt_to: std::mem::take(&mut self.rcpt_to),
            data,
            auth: self.auth.clone(),
        };
        if take(&self.shared.refuse_budget) {
            self.shared.refused.fetch_add(1, Ordering::SeqCst);
            return self
                .reply("451 4.3.0 Temporarily refused by the test server")
                .await;
        }
        if take(&self.shared.reject_budget) {
            self.shared.refused.fetch_add(1, Ordering::SeqCst);
            return self
                .reply("554 5.7.1 Rejected for good by the test server")
                .await;
        }
        if take(&self.shared.hang_budget) {
            self.shared.refused.fetch_add(1, Ordering::SeqCst);
            // Silent until the client hangs up.
            let mut rest = Vec::new();
            while self.rd.read_until(b'\n', &mut rest).await? > 0 {}
            return Ok(());
        }
        let mut queued = 0;
        self.shared.mails.send_modify(|mails| {
            mails.push(mail);
            queued = mails.len();
        });
        self.reply(&format!("250 2.0.0 OK queued as {queued}"))
            .await
    }

    fn reset_transaction(&mut self) {
        self.mail_from = None;
        self.rcpt_to.clear();
    }

    /// One command line without its line ending; `None` at end of stream.
    async fn read_line(&mut self) -> io::Result<Option<String>> {
        let mut line = Vec::new();
        if self.rd.read_until(b'\n', &mut line).await? == 0 {
            return Ok(None);
        }
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        Ok(Some(String::from_utf8_lossy(&line).into_owned()))
    }

    async fn reply(&mut self, text: &str) -> io::Result<()> {
        self.wr.write_all(format!("{text}\r\n").as_bytes()).await
    }
}

/// Extracts the address from `FROM:<a@b> PARAMS` or `TO:<a@b>`; tolerates a
/// space after the colon and a missing pair of brackets, as lenient servers
/// do, so the test is about the app's mail rather than its SMTP pedantry.
fn parse_path(arg: &str, keyword: &str) -> Option<String> {
    let head = arg.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg[keyword.len()..].trim_start();
    match rest.strip_prefix('<') {
        Some(inner) => inner.find('>').map(|end| inner[..end].to_owned()),
        None => rest.split_whitespace().next().map(str::to_owned),
    }
}

/// SASL PLAIN: `authzid NUL authcid NUL password`; an empty response is `=`.
fn decode_plain(response: &str) -> Option<(String, String)> {
    let bytes = if response == "=" {
        Vec::new()
    } else {
        base64_decode(response)?
    };
    let text = String::from_utf8(bytes).ok()?;
    let mut parts = text.split('\0');
    let (_authzid, user, pass) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    Some((user.to_owned(), pass.to_owned()))
}

fn decode_text(response: &str) -> Option<String> {
    String::from_utf8(base64_decode(response)?).ok()
}

// Hand-rolled so this file needs nothing beyond tokio; lenient about
// missing padding because only well-meaning clients talk to it.
fn base64_decode(input: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in input.trim().bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}
