//! [`WindowStore`] in Redis, shared by every worker of a deployment.
//!
//! # Keys
//!
//! Every key starts with the configured prefix `P`. Rule and group are
//! escaped (`%` → `%25`, `{` → `%7B`, `}` → `%7D`, `|` → `%7C`) so that any
//! group string (`admin1=KE.30,keyword=cholera`) builds one key only and
//! cannot end a hash tag early:
//!
//! - `P{rule|group}:m`, zset: member → event time;
//! - `P{rule|group}:s`, zset: sender → latest event time (with `senders`);
//! - `P{rule|group}:h`, string: id of the alert holding the series;
//! - `P{rule|group}:c`, string: end of the series' cooldown, ms;
//! - `P{rule}:g`, zset: group → last report time (with `track_groups`);
//! - `Pintact`, string: set once the windows hold everything the database
//!   says they should (see below).
//!
//! The `{…}` hash tag puts a series' keys in one cluster slot, so each
//! series script touches one slot, and series of one rule still spread over
//! the cluster. The group index is per rule, in its own slot, and updated by
//! a second script in the same pipeline: it only ever moves a time forward,
//! so it need not be atomic with the member's insertion. The prefix itself
//! must not contain `{` or `}`, or it becomes the hash tag of every key.
//!
//! # Memory
//!
//! Every key has a TTL. A zset's TTL runs until its newest entry is due to
//! be trimmed (its event time + retention, measured from the `now` given,
//! not from Redis's clock) plus [`TTL_MARGIN_MS`], so a series no report
//! touches again disappears by itself. Holds last until released, with a
//! safety TTL of [`HOLD_TTL_MS`] in case the alert that holds one is lost.
//!
//! # Lost data
//!
//! A Redis restarted empty (or flushed) would make every window look
//! quiet: firing alerts would resolve and cooling groups fire again. Every
//! observe, measure and claim script first checks the `Pintact` key and,
//! when it is gone, answers `ISHARA_LOST` having changed nothing; the rule
//! engine then rebuilds the windows, holds and cooldowns from the database
//! through a [`RedisWindows::restoring`] handle (which skips the check) and
//! sets the key again. The check reads a key outside the series' slot, so
//! these scripts need a single Redis (or Sentinel), not Redis Cluster.
//!
//! Times compared are always the `now` arguments, never Redis's clock: the
//! same code runs on the fake clock of `ishara rules test`.

use ::redis::aio::ConnectionManager;
use ::redis::{Cmd, ErrorKind, FromRedisValue, Pipeline, RedisError, Script, ServerErrorKind};
use async_trait::async_trait;
use std::sync::Arc;

use super::{Claim, Measure, Observation, Series, Shape, WindowError, WindowStore};

/// Keys outlive their last due trim by this much, so that a key never
/// expires while a member it holds still counts (clock skew between
/// workers, a slow pipeline).
pub const TTL_MARGIN_MS: i64 = 60_000;

/// A hold ends with its alert's `release`; this TTL only bounds the cost of
/// an alert lost before it was released (a crashed worker, a deleted row).
/// 30 days is far longer than any alert stays open.
pub const HOLD_TTL_MS: i64 = 30 * 24 * 3600 * 1000;

/// The error code of a script that found the `intact` key gone.
const LOST: &str = "ISHARA_LOST";

/// The first lines of every script that must not run on lost data: the
/// intact key is the last key, the check flag the last argument.
macro_rules! unless_lost {
    () => {
        r#"
if ARGV[#ARGV] == '1' and redis.call('EXISTS', KEYS[#KEYS]) == 0 then
  return redis.error_reply('ISHARA_LOST the window store lost its data')
end
"#
    };
}

/// The end of the observe and measure scripts: the counts per window, the
/// evidence, and what claims left on the series. Reads `m`, `now`, `w`,
/// `n`, `ev`, `sn`, `added` and `int` from the script before it.
macro_rules! measured {
    () => {
        r#"
local counts = {}
for i = 0, n - 1 do
  counts[i + 1] = redis.call('ZCOUNT', m, '(' .. int(now - (i + 1) * w), int(now - i * w))
end
local evidence = {}
if ev > 0 then
  evidence = redis.call('ZRANGEBYSCORE', m, '(' .. int(now - w), int(now), 'LIMIT', 0, ev)
end
local holder = redis.call('GET', KEYS[3]) or ''
local cool_end = redis.call('GET', KEYS[4])
local cooling = 0
if cool_end and tonumber(cool_end) > now then cooling = 1 end
return {added, counts, sn, evidence, holder, cooling}
"#
    };
}

/// KEYS: members, senders, hold, cooldown, intact. ARGV: member, at,
/// has_sender, sender, now, window, windows, evidence, retain, senders,
/// margin, check.
const OBSERVE: &str = concat!(
    unless_lost!(),
    r#"
local function int(x) return string.format('%d', x) end
local m, s = KEYS[1], KEYS[2]
local at, now = tonumber(ARGV[2]), tonumber(ARGV[5])
local w, n, ev = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local retain, senders, margin = tonumber(ARGV[9]), ARGV[10] == '1', tonumber(ARGV[11])
local cutoff = now - retain
local added = 0
if at > cutoff then
  added = redis.call('ZADD', m, 'NX', int(at), ARGV[1])
  if senders and ARGV[3] == '1' then
    redis.call('ZADD', s, 'GT', int(at), ARGV[4])
  end
end
redis.call('ZREMRANGEBYSCORE', m, '-inf', int(cutoff))
local top = redis.call('ZRANGE', m, -1, -1, 'WITHSCORES')
if top[2] then
  redis.call('PEXPIRE', m, int(tonumber(top[2]) - now + retain + margin))
end
local sn = 0
if senders then
  redis.call('ZREMRANGEBYSCORE', s, '-inf', int(now - w))
  local stop = redis.call('ZRANGE', s, -1, -1, 'WITHSCORES')
  if stop[2] then
    redis.call('PEXPIRE', s, int(tonumber(stop[2]) - now + w + margin))
  end
  sn = redis.call('ZCOUNT', s, '(' .. int(now - w), int(now))
end
"#,
    measured!()
);

/// KEYS: members, senders, hold, cooldown, intact. ARGV: now, window,
/// windows, evidence, senders, check.
const MEASURE: &str = concat!(
    unless_lost!(),
    r#"
local function int(x) return string.format('%d', x) end
local m, s = KEYS[1], KEYS[2]
local now, w, n, ev = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local sn = 0
if ARGV[5] == '1' then
  sn = redis.call('ZCOUNT', s, '(' .. int(now - w), int(now))
end
local added = 0
"#,
    measured!()
);

/// KEYS: group index. ARGV: group, at, now, retain, margin.
const TOUCH_GROUP: &str = r#"
local function int(x) return string.format('%d', x) end
local g = KEYS[1]
local at, now, retain, margin = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local cutoff = now - retain
if at > cutoff then
  redis.call('ZADD', g, 'GT', int(at), ARGV[1])
end
redis.call('ZREMRANGEBYSCORE', g, '-inf', int(cutoff))
local top = redis.call('ZRANGE', g, -1, -1, 'WITHSCORES')
if top[2] then
  redis.call('PEXPIRE', g, int(tonumber(top[2]) - now + retain + margin))
end
return 1
"#;

/// KEYS: hold, cooldown, intact. ARGV: alert id, cooldown until, now, hold
/// ttl, margin, check. Returns {'won'}, {'held', id} or {'cooling'}.
const CLAIM: &str = concat!(
    unless_lost!(),
    r#"
local holder = redis.call('GET', KEYS[1])
if holder then return {'held', holder} end
local now, cooldown_until = tonumber(ARGV[3]), tonumber(ARGV[2])
local cooling = redis.call('GET', KEYS[2])
if cooling and tonumber(cooling) > now then return {'cooling'} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[4])
if cooldown_until > now then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', string.format('%d', cooldown_until - now + tonumber(ARGV[5])))
else
  redis.call('DEL', KEYS[2])
end
return {'won'}
"#
);

/// KEYS: hold. ARGV: alert id.
const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;

#[derive(Clone)]
pub struct RedisWindows {
    con: ConnectionManager,
    prefix: String,
    /// Refuse to run on lost data; off only in a [`Self::restoring`] handle.
    check: bool,
    observe: Script,
    measure: Script,
    touch_group: Script,
    claim: Script,
    release: Script,
}

fn unavailable(e: RedisError) -> WindowError {
    if is_lost(&e) {
        return WindowError::Lost;
    }
    WindowError::Unavailable(e.to_string())
}

/// A script found the intact key gone, alone or inside a pipeline.
fn is_lost(e: &RedisError) -> bool {
    e.code() == Some(LOST)
        || e.clone()
            .into_server_errors()
            .is_some_and(|failed| failed.iter().any(|(_, error)| error.code() == LOST))
}

/// Makes `%`, `{`, `}` and `|` impossible in a key part, so that parts
/// joined by `|` inside `{…}` read back one way only.
fn escape(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    for c in part.chars() {
        match c {
            '%' => out.push_str("%25"),
            '{' => out.push_str("%7B"),
            '}' => out.push_str("%7D"),
            '|' => out.push_str("%7C"),
            c => out.push(c),
        }
    }
    out
}

/// `prefix` as a SCAN MATCH pattern that matches itself literally.
fn glob_literal(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn bool_arg(b: bool) -> &'static str {
    if b { "1" } else { "0" }
}

type RawMeasure = (i64, Vec<u64>, u64, Vec<String>, String, i64);

fn to_measure((added, counts, senders, evidence, holder, cooling): RawMeasure) -> Measure {
    Measure {
        added: added == 1,
        counts,
        senders,
        evidence,
        holder: (!holder.is_empty()).then_some(holder),
        cooling: cooling == 1,
    }
}

impl RedisWindows {
    /// Connects (the manager reconnects by itself afterwards) and loads the
    /// scripts.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, WindowError> {
        let client = ::redis::Client::open(url).map_err(unavailable)?;
        let con = ConnectionManager::new(client).await.map_err(unavailable)?;
        let store = Self {
            con,
            prefix: prefix.to_owned(),
            check: true,
            observe: Script::new(OBSERVE),
            measure: Script::new(MEASURE),
            touch_group: Script::new(TOUCH_GROUP),
            claim: Script::new(CLAIM),
            release: Script::new(RELEASE),
        };
        store
            .load_scripts(&mut store.con.clone())
            .await
            .map_err(unavailable)?;
        Ok(store)
    }

    /// The prefix every key of this store starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The same windows, without the lost-data check: what rebuilds them.
    pub fn restoring(&self) -> Self {
        Self {
            check: false,
            ..self.clone()
        }
    }

    fn intact_key(&self) -> String {
        format!("{}intact", self.prefix)
    }

    /// A series' keys and the intact key: what the checked scripts read.
    fn checked_keys(&self, series: &Series) -> [String; 5] {
        let [m, s, h, c] = self.series_keys(series);
        [m, s, h, c, self.intact_key()]
    }

    fn series_key(&self, series: &Series, kind: &str) -> String {
        format!(
            "{}{{{}|{}}}:{kind}",
            self.prefix,
            escape(&series.rule),
            escape(&series.group)
        )
    }

    /// Members, senders, hold, cooldown: what observe and measure read.
    fn series_keys(&self, series: &Series) -> [String; 4] {
        ["m", "s", "h", "c"].map(|kind| self.series_key(series, kind))
    }

    fn groups_key(&self, rule: &str) -> String {
        format!("{}{{{}}}:g", self.prefix, escape(rule))
    }

    async fn load_scripts(&self, con: &mut ConnectionManager) -> Result<(), RedisError> {
        let mut pipe = ::redis::pipe();
        for code in [OBSERVE, MEASURE, TOUCH_GROUP, CLAIM, RELEASE] {
            pipe.cmd("SCRIPT").arg("LOAD").arg(code).ignore();
        }
        pipe.exec_async(con).await
    }

    /// Runs a pipeline of script calls in one round trip. A Redis that lost
    /// its scripts (restarted, `SCRIPT FLUSH`) answers NOSCRIPT to every
    /// call, so nothing ran: loading them and sending it again is safe.
    async fn run<T: FromRedisValue>(&self, pipe: &Pipeline) -> Result<T, WindowError> {
        let mut con = self.con.clone();
        match pipe.query_async(&mut con).await {
            Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                self.load_scripts(&mut con).await.map_err(unavailable)?;
                pipe.query_async(&mut con).await.map_err(unavailable)
            }
            result => result.map_err(unavailable),
        }
    }

    async fn run_one<T: FromRedisValue>(&self, cmd: Cmd) -> Result<T, WindowError> {
        let mut pipe = ::redis::pipe();
        pipe.add_command(cmd);
        let (value,): (T,) = self.run(&pipe).await?;
        Ok(value)
    }
}

/// `EVALSHA` of `script`, keys and arguments to be added.
fn evalsha<K: AsRef<str>>(script: &Script, keys: &[K]) -> Cmd {
    let mut cmd = ::redis::cmd("EVALSHA");
    cmd.arg(script.get_hash()).arg(keys.len());
    for key in keys {
        cmd.arg(key.as_ref());
    }
    cmd
}

#[async_trait]
impl WindowStore for RedisWindows {
    async fn observe(
        &self,
        batch: &[(Observation, &Shape)],
        now_ms: i64,
    ) -> Result<Vec<Measure>, WindowError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = ::redis::pipe();
        for (obs, shape) in batch {
            let mut cmd = evalsha(&self.observe, &self.checked_keys(&obs.series));
            cmd.arg(&obs.member)
                .arg(obs.at_ms)
                .arg(bool_arg(obs.sender.is_some()))
                .arg(obs.sender.as_deref().unwrap_or(""))
                .arg(now_ms)
                .arg(shape.window_ms)
                .arg(shape.windows)
                .arg(shape.evidence)
                .arg(shape.retain_ms)
                .arg(bool_arg(shape.senders))
                .arg(TTL_MARGIN_MS)
                .arg(bool_arg(self.check));
            pipe.add_command(cmd);
            if shape.track_groups && obs.at_ms > now_ms.saturating_sub(shape.retain_ms) {
                let mut touch = evalsha(&self.touch_group, &[&self.groups_key(&obs.series.rule)]);
                touch
                    .arg(&obs.series.group)
                    .arg(obs.at_ms)
                    .arg(now_ms)
                    .arg(shape.retain_ms)
                    .arg(TTL_MARGIN_MS);
                pipe.add_command(touch).ignore();
            }
        }
        let raw: Vec<RawMeasure> = self.run(&pipe).await?;
        Ok(raw.into_iter().map(to_measure).collect())
    }

    async fn measure(
        &self,
        batch: &[(Series, &Shape)],
        now_ms: i64,
    ) -> Result<Vec<Measure>, WindowError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = ::redis::pipe();
        for (series, shape) in batch {
            let mut cmd = evalsha(&self.measure, &self.checked_keys(series));
            cmd.arg(now_ms)
                .arg(shape.window_ms)
                .arg(shape.windows)
                .arg(shape.evidence)
                .arg(bool_arg(shape.senders))
                .arg(bool_arg(self.check));
            pipe.add_command(cmd);
        }
        let raw: Vec<RawMeasure> = self.run(&pipe).await?;
        Ok(raw.into_iter().map(to_measure).collect())
    }

    async fn silent_groups(
        &self,
        rule: &str,
        seen_after_ms: i64,
        silent_since_ms: i64,
    ) -> Result<Vec<String>, WindowError> {
        let mut cmd = ::redis::cmd("ZRANGEBYSCORE");
        cmd.arg(self.groups_key(rule))
            .arg(format!("({seen_after_ms}"))
            .arg(silent_since_ms);
        self.run_one(cmd).await
    }

    async fn claim(
        &self,
        series: &Series,
        alert_id: &str,
        cooldown_until_ms: i64,
        now_ms: i64,
    ) -> Result<Claim, WindowError> {
        let hold = self.series_key(series, "h");
        let cooldown = self.series_key(series, "c");
        let mut cmd = evalsha(&self.claim, &[&hold, &cooldown, &self.intact_key()]);
        cmd.arg(alert_id)
            .arg(cooldown_until_ms)
            .arg(now_ms)
            .arg(HOLD_TTL_MS)
            .arg(TTL_MARGIN_MS)
            .arg(bool_arg(self.check));
        let answer: Vec<String> = self.run_one(cmd).await?;
        match answer.as_slice() {
            [won] if won == "won" => Ok(Claim::Won),
            [cooling] if cooling == "cooling" => Ok(Claim::CoolingDown),
            [held, holder] if held == "held" => Ok(Claim::Held(holder.clone())),
            other => Err(WindowError::Unavailable(format!(
                "unexpected answer to a claim: {other:?}"
            ))),
        }
    }

    async fn release(&self, series: &Series, alert_id: &str) -> Result<(), WindowError> {
        let hold = self.series_key(series, "h");
        let mut cmd = evalsha(&self.release, &[&hold]);
        cmd.arg(alert_id);
        let _: i64 = self.run_one(cmd).await?;
        Ok(())
    }

    async fn mark_intact(&self) -> Result<(), WindowError> {
        self.run_one::<()>(::redis::cmd("SET").arg(self.intact_key()).arg("1").clone())
            .await
    }

    async fn is_intact(&self) -> Result<bool, WindowError> {
        self.run_one(::redis::cmd("EXISTS").arg(self.intact_key()).clone())
            .await
    }

    fn restorer(&self) -> Option<Arc<dyn WindowStore>> {
        Some(Arc::new(self.restoring()))
    }

    async fn clear(&self) -> Result<(), WindowError> {
        let mut con = self.con.clone();
        let pattern = format!("{}*", glob_literal(&self.prefix));
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) = ::redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut con)
                .await
                .map_err(unavailable)?;
            if !keys.is_empty() {
                let _: i64 = ::redis::cmd("UNLINK")
                    .arg(&keys)
                    .query_async(&mut con)
                    .await
                    .map_err(unavailable)?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_parts_cannot_run_into_each_other() {
        assert_eq!(
            escape("admin1=KE.30,keyword=cholera"),
            "admin1=KE.30,keyword=cholera"
        );
        assert_eq!(escape("a|b{c}%"), "a%7Cb%7Bc%7D%25");
        // "r" + "a|b" and "r|a" + "b" would collide without escaping.
        assert_ne!(escape("a|b"), escape("a") + "|" + &escape("b"));
    }

    #[test]
    fn clear_matches_the_prefix_literally() {
        assert_eq!(glob_literal("t*[1]?\\:"), "t\\*\\[1\\]\\?\\\\:");
    }
}
