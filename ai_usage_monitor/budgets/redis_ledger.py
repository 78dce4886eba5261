"""The ledger in Redis (``budget_store = "redis://…"``), shared by the processes of several hosts.

Each counter is three keys: a hash (spent, reserved, and what the counter is), a hash of live reservations
and a sorted set of their lease ends. Every operation is one Lua script, which Redis runs atomically;
all keys expire a day after their period ends. Amounts travel as decimal strings and are summed with
``HINCRBYFLOAT`` so no precision is lost to Lua's number formatting.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import redis

from ai_usage_monitor.budgets.config import PeriodWindow
from ai_usage_monitor.budgets.ledger import (
    DEFAULT_LEASE_SECONDS,
    Ledger,
    Refusal,
    Reservation,
    SpendLoader,
    SpendStatus,
)

__all__ = ["KEY_PREFIX", "RedisLedger"]

KEY_PREFIX = "ai_usage:budget:"
#: keys outlive their period by this much (a late settle still finds its counter)
_GRACE_S = 86_400
#: seconds to connect to Redis and for each answer; a failure raises ``redis.RedisError``
_TIMEOUT_S = 2.0
#: how long a seeding process may take before another one takes over
_SEED_LEASE_MS = 60_000

# KEYS: counter, reservations, lease ends; ARGV: now, expire_at (unix s), budget, scope, period, resets_at
_SWEEP = """
local c, r, e = KEYS[1], KEYS[2], KEYS[3]
local expired = redis.call('ZRANGEBYSCORE', e, '-inf', ARGV[1])
for _, id in ipairs(expired) do
  local amount = redis.call('HGET', r, id)
  if amount then
    redis.call('HDEL', r, id)
    redis.call('HINCRBYFLOAT', c, 'reserved', '-' .. amount)
  end
end
if #expired > 0 then redis.call('ZREMRANGEBYSCORE', e, '-inf', ARGV[1]) end
if redis.call('HLEN', r) == 0 then redis.call('HSET', c, 'reserved', '0') end
if redis.call('HEXISTS', c, 'budget') == 0 then
  redis.call('HSET', c, 'budget', ARGV[3], 'scope', ARGV[4], 'period', ARGV[5], 'resets_at', ARGV[6])
end
"""
_EXPIRE = """
redis.call('EXPIREAT', c, ARGV[2])
redis.call('EXPIREAT', r, ARGV[2])
redis.call('EXPIREAT', e, ARGV[2])
"""
# ARGV 7..9: amount, limit, lease end → {1, token} or {0, spent, reserved}
_RESERVE = (
    _SWEEP
    + """
local spent = tonumber(redis.call('HGET', c, 'spent') or '0')
local reserved = tonumber(redis.call('HGET', c, 'reserved') or '0')
if spent + reserved + tonumber(ARGV[7]) > tonumber(ARGV[8]) then
  return {0, tostring(spent), tostring(reserved)}
end
local id = tostring(redis.call('HINCRBY', c, 'seq', 1))
redis.call('HSET', r, id, ARGV[7])
redis.call('ZADD', e, ARGV[9], id)
redis.call('HINCRBYFLOAT', c, 'reserved', ARGV[7])
"""
    + _EXPIRE
    + "return {1, id}\n"
)
# ARGV 7..8: actual, reservation id ('' for spend without reservation) → the spend after it
_SETTLE = (
    _SWEEP
    + """
if ARGV[8] ~= '' then
  local amount = redis.call('HGET', r, ARGV[8])
  if amount then
    redis.call('HDEL', r, ARGV[8])
    redis.call('ZREM', e, ARGV[8])
    redis.call('HINCRBYFLOAT', c, 'reserved', '-' .. amount)
  end
end
local total = redis.call('HINCRBYFLOAT', c, 'spent', ARGV[7])
"""
    + _EXPIRE
    + "return total\n"
)
# KEYS: counter, reservations, lease ends; ARGV: now → {budget, scope, period, resets_at, spent, reserved}
_STATUS = """
local c, r, e = KEYS[1], KEYS[2], KEYS[3]
local expired = redis.call('ZRANGEBYSCORE', e, '-inf', ARGV[1])
local reserved = 0
for _, amount in ipairs(redis.call('HVALS', r)) do reserved = reserved + tonumber(amount) end
for _, id in ipairs(expired) do reserved = reserved - tonumber(redis.call('HGET', r, id) or '0') end
local f = redis.call('HMGET', c, 'budget', 'scope', 'period', 'resets_at', 'spent')
return {f[1], f[2], f[3], f[4], f[5] or '0', tostring(reserved)}
"""


def _amount(value: float) -> str:
    return repr(float(value))


class RedisLedger(Ledger):
    """Budget counters in one Redis database; every operation is a single atomic script."""

    def __init__(self, url: str, *, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> None:
        super().__init__(lease_seconds)
        # a Redis that does not answer must not hang the calls waiting on it (the URL may say otherwise)
        self.client: redis.Redis = redis.Redis.from_url(
            url, socket_timeout=_TIMEOUT_S, socket_connect_timeout=_TIMEOUT_S
        )
        self._reserve = self.client.register_script(_RESERVE)
        self._settle = self.client.register_script(_SETTLE)
        self._status = self.client.register_script(_STATUS)

    @staticmethod
    def _keys(budget: str, scope_value: str, period: str) -> list[str]:
        digest = hashlib.blake2b(
            f"{budget}\x1f{scope_value}\x1f{period}".encode(), digest_size=12
        ).hexdigest()
        base = f"{KEY_PREFIX}{{{digest}}}"
        return [f"{base}:c", f"{base}:r", f"{base}:e"]

    @staticmethod
    def _args(budget: str, scope_value: str, period: str, resets_at: float, now: float) -> list[Any]:
        return [_amount(now), int(resets_at) + _GRACE_S, budget, scope_value, period, _amount(resets_at)]

    def reserve(
        self, budget: str, scope_value: str, window: PeriodWindow, amount: float, limit: float
    ) -> Reservation | Refusal:
        now = time.time()
        args = self._args(budget, scope_value, window.label, window.end, now)
        answer = self._reserve(
            keys=self._keys(budget, scope_value, window.label),
            args=[*args, _amount(amount), _amount(limit), _amount(now + self.lease_seconds)],
        )
        if int(answer[0]) == 1:
            return Reservation(budget, scope_value, window.label, window.end, amount, answer[1].decode())
        spent, reserved = float(answer[1]), float(answer[2])
        return Refusal(budget, scope_value, window.label, window.end, amount, spent, reserved, limit)

    def settle(self, reservation: Reservation, actual: float) -> float:
        r = reservation
        return float(self._add((r.budget, r.scope_value, r.period, r.resets_at), actual, r.token))

    def add(self, budget: str, scope_value: str, window: PeriodWindow, actual: float) -> float:
        return float(self._add((budget, scope_value, window.label, window.end), actual, ""))

    def _add(
        self, counter: tuple[str, str, str, float], actual: float, token: str, client: Any = None
    ) -> Any:
        """Count ``actual`` on a counter (budget, scope value, period, reset time), releasing ``token``;
        the spend after it (a pipeline answers only when executed)."""
        budget, scope_value, period, resets_at = counter
        args = self._args(budget, scope_value, period, resets_at, time.time())
        return self._settle(
            keys=self._keys(budget, scope_value, period), args=[*args, _amount(actual), token], client=client
        )

    def status(self) -> list[SpendStatus]:
        now = _amount(time.time())
        found: list[SpendStatus] = []
        for key in self.client.scan_iter(match=f"{KEY_PREFIX}{{*}}:c", count=500):
            base = key.decode()[: -len(":c")]
            fields = self._status(keys=[f"{base}:c", f"{base}:r", f"{base}:e"], args=[now])
            if fields[0] is None:  # the counter expired between the scan and the read
                continue
            budget, scope, period = (value.decode() for value in fields[:3])
            resets_at, spent, reserved = (float(value) for value in fields[3:])
            found.append(SpendStatus(budget, scope, period, resets_at, spent, max(reserved, 0.0)))
        return sorted(found, key=lambda s: (s.budget, s.scope_value, s.resets_at))

    def _seed(self, budget: str, window: PeriodWindow, load: SpendLoader) -> bool:
        digest = hashlib.blake2b(f"{budget}\x1f{window.label}".encode(), digest_size=12).hexdigest()
        marker = f"{KEY_PREFIX}seeded:{digest}"
        while True:
            if self.client.set(marker, "pending", nx=True, px=_SEED_LEASE_MS):
                break
            # another process is seeding (or did): wait, so that nothing reserves against an unseeded period;
            # a seeder that died leaves a marker that expires, and this process takes over
            state = self.client.get(marker)
            if state == b"done":
                return False
            time.sleep(0.02)
        try:
            spend = load()
            with self.client.pipeline(transaction=True) as pipe:
                for scope, spent in spend.items():
                    self._add((budget, scope, window.label, window.end), spent, "", client=pipe)
                pipe.set(marker, "done", exat=int(window.end) + _GRACE_S)
                pipe.execute()
        except BaseException:
            self.client.delete(marker)
            raise
        return True

    def close(self) -> None:
        self.client.close()
