"""Schemathesis hooks: the rules between fields that Herald's API enforces and
JSON Schema cannot state, taught to the generator.

JSON Schema describes each value on its own; it cannot say that one date comes
after another, that a header and a body field carry the same key, or that a
range divided by a granularity stays under a limit. The OpenAPI document states
these rules in prose (each operation's description and its 4xx responses), the
server answers a request that breaks one with a 4xx naming the field, and the
integration tests pin those answers. Here, each *positive* case (one the
generator means to be valid) is brought inside the rule, so that
`positive_data_acceptance` checks everything else about it. Negative cases are
left as generated.

Rules (server code in brackets):
- a range's end is after its start: `since`/`until` on GET /audit, `from`/`to`
  on GET /events and GET /dlq, `filter.from`/`filter.to` on POST /replays,
  POST /checkpoints/{id}/recover and POST /dlq/reprocess (api/v1/audit.rs,
  events.rs, dlq.rs, engine recovery.rs);
- GET /stats: at most `Granularity::max_buckets` buckets (1,440 minutes,
  2,160 hours, 1,098 days) between `from` and `to`, with their defaults
  (engine store/sqlite_stats.rs);
- POST /events: the `Idempotency-Key` header and the body's `idempotency_key`,
  when both are sent, are the same key (api/v1/events.rs);
- POST /endpoints, PATCH /endpoints/{id}: custom header names and values come
  to at most 16 KiB together (engine validate.rs, MAX_HEADERS_TOTAL_BYTES);
  a circuit breaker's `max_cooldown_secs` is at least its `cooldown_secs`
  (30 when left out) (engine model/breaker.rs);
- POST /endpoints: a webhook (the default kind) has a `url`; an inbox has
  none, and no headers, rate limit, ordering or semantics but at_least_once
  (engine validate.rs, `inbox_fields`);
- POST /api-keys: `endpoint_id` comes with scope `consume` and only with it,
  and names an inbox, which the generator cannot know: a positive case asks
  for another scope without it (engine auth.rs, `issue_bound_api_key`);
- POST /event-types, POST /event-types/{name}/versions: `schema` is a JSON
  Schema (draft 2020-12; the document says "object", not the meta-schema),
  examples need a schema and must pass it, and a version that could refuse
  what the current one accepts needs `breaking` (engine event_types.rs): a
  positive case carries `{"type": "object"}` (which every example object
  passes) and `breaking: true`;
- POST /endpoints, PATCH /endpoints/{id}, POST /replays: a `filter` is a
  content filter and a `transform` a jq program that compiles, which the
  document can only call an object and a string: a positive case carries
  `{"event_type": {"$exists": true}}` and `.` (engine model/filter.rs,
  transform.rs); an inbox takes no transform;
- POST /endpoints/filter-test, POST /endpoints/transform-test: the event is
  named in exactly one way, and a stored one (by id or type) may not exist:
  a positive case gives it in full (engine content.rs);
- PATCH /tenant: with `schema_mode: enforce` or `require_registered_types`
  on, a publish the document allows (any well-formed type, any object) is
  refused by the tenant's catalog, a rule between operations no schema
  states: a positive case leaves both alone (engine catalog.rs).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import schemathesis

MAX_HEADERS_TOTAL_BYTES = 16 * 1024
ENDPOINT_BODIES = {("POST", "/api/v1/endpoints"), ("PATCH", "/api/v1/endpoints/{id}")}
GRANULARITY = {
    "minute": (timedelta(minutes=1), 24 * 60),
    "hour": (timedelta(hours=1), 90 * 24),
    "day": (timedelta(days=1), 3 * 366),
}
RANGES = {
    ("GET", "/api/v1/audit"): ("since", "until"),
    ("GET", "/api/v1/events"): ("from", "to"),
    ("GET", "/api/v1/dlq"): ("from", "to"),
}
CATALOG_BODIES = {
    ("POST", "/api/v1/event-types"),
    ("POST", "/api/v1/event-types/{name}/versions"),
}
CONTENT_TESTS = {
    ("POST", "/api/v1/endpoints/filter-test"),
    ("POST", "/api/v1/endpoints/transform-test"),
}
VALID_FILTER = {"event_type": {"$exists": True}}
FILTER_BODIES = {
    ("POST", "/api/v1/replays"),
    ("POST", "/api/v1/checkpoints/{id}/recover"),
    ("POST", "/api/v1/dlq/reprocess"),
}

RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)


def instant(text):
    """An RFC 3339 date-time as an aware datetime, or None if it is not one Python can hold."""
    if not isinstance(text, str):
        return None
    m = RFC3339.match(text)
    if not m:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    fraction = m.group(7) or ""
    offset = m.group(8)
    try:
        at = datetime(year, month, day, hour, minute, min(second, 59), tzinfo=timezone.utc)
    except ValueError:
        return None
    if fraction:
        at += timedelta(microseconds=int((fraction[1:] + "000000")[:6]))
    if offset not in ("Z", "z"):
        sign = 1 if offset[0] == "+" else -1
        at -= sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))
    return at


def rfc3339(at):
    at = at.astimezone(timezone.utc)
    return (
        f"{at.year:04d}-{at.month:02d}-{at.day:02d}T"
        f"{at.hour:02d}:{at.minute:02d}:{at.second:02d}.{at.microsecond:06d}Z"
    )


def ordered(values, start, end):
    """Puts `end` after `start` when both are given: swapped, or `end` dropped if equal."""
    if not isinstance(values, dict):
        return
    a, b = instant(values.get(start)), instant(values.get(end))
    if a is None or b is None or a < b:
        return
    if a == b:
        del values[end]
    else:
        values[start], values[end] = values[end], values[start]


def within_bucket_limit(query):
    now = datetime.now(timezone.utc)
    start = instant(query.get("from")) if "from" in query else None
    if "from" in query and start is None:
        return
    if "to" in query:
        to = instant(query.get("to"))
        if to is None:
            return
    else:
        # The server counts to its own "now", later than this one by the time
        # the request takes (an hour's margin), and a `from` about now or in
        # the future (a timestamp taken from a response) would come after it.
        to = now + timedelta(hours=1)
        if start is not None and start >= now - timedelta(minutes=1):
            query.pop("from")
            start = None
    if start is None or start >= to:
        query.pop("from", None)
        start = to - timedelta(hours=24)
    granularity = query.get("granularity")
    if granularity not in GRANULARITY:
        span = to - start
        granularity = (
            "minute" if span <= timedelta(hours=6) else "hour" if span <= timedelta(days=14) else "day"
        )
    width, limit = GRANULARITY[granularity]
    if to - start > width * limit:
        # The server clips a range to 1970..9999 and counts buckets in what
        # remains: a range this long, brought under the limit anywhere, passes.
        query["from"] = rfc3339(to - width * limit)


@schemathesis.hook
def map_case(context, case):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return case
    return within_rules(case)


@schemathesis.hook
def before_add_examples(context, examples):
    # The examples phase combines the document's examples, which are valid
    # one by one; `map_case` does not see them.
    for case in examples:
        within_rules(case)


def is_number(value):
    """A JSON number (whole numbers may come as `535.0`), not a boolean."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def within_rules(case):
    key = (case.method.upper(), case.path)
    if key in RANGES:
        ordered(case.query, *RANGES[key])
    elif key == ("GET", "/api/v1/stats") and isinstance(case.query, dict):
        ordered(case.query, "from", "to")
        within_bucket_limit(case.query)
    elif key in FILTER_BODIES and isinstance(case.body, dict):
        ordered(case.body.get("filter"), "from", "to")
        if "transform" in case.body:
            case.body["transform"] = "."
    elif key in CONTENT_TESTS and isinstance(case.body, dict):
        for field in ("event_id", "event_type", "event", "payload"):
            case.body.pop(field, None)
        if key[1].endswith("filter-test"):
            case.body["filter"] = VALID_FILTER
            case.body["event"] = {"event_type": "fuzz.sample", "payload": {}}
        else:
            case.body["transform"] = "."
            case.body["payload"] = {}
    elif key in ENDPOINT_BODIES and isinstance(case.body, dict):
        if case.body.get("filter") is not None:
            case.body["filter"] = VALID_FILTER
        if case.body.get("transform") is not None:
            case.body["transform"] = "."
        if key[0] == "POST":
            if case.body.get("kind") == "inbox":
                for field in ("url", "headers", "rate_limit", "transform"):
                    case.body.pop(field, None)
                case.body["semantics"] = "at_least_once"
                case.body["ordering"] = "none"
            elif not case.body.get("url"):
                case.body["url"] = "https://93.184.216.34/hook"
        breaker = case.body.get("circuit_breaker")
        if isinstance(breaker, dict) and is_number(breaker.get("max_cooldown_secs")):
            cooldown = breaker.get("cooldown_secs")
            floor = cooldown if is_number(cooldown) else 30
            breaker["max_cooldown_secs"] = max(breaker["max_cooldown_secs"], floor)
        headers = case.body.get("headers")
        if isinstance(headers, dict):
            budget = MAX_HEADERS_TOTAL_BYTES
            for name in list(headers):
                value = headers[name] if isinstance(headers[name], str) else ""
                room = max(budget - len(name), 0)
                if len(name) > budget:
                    del headers[name]
                    continue
                headers[name] = value[:room]
                budget -= len(name) + len(headers[name])
    elif key == ("POST", "/api/v1/api-keys") and isinstance(case.body, dict):
        case.body.pop("endpoint_id", None)
        if case.body.get("scope") == "consume":
            case.body["scope"] = "read"
    elif key == ("PATCH", "/api/v1/tenant") and isinstance(case.body, dict):
        case.body.pop("require_registered_types", None)
        if case.body.get("schema_mode") == "enforce":
            case.body["schema_mode"] = "warn"
    elif key in CATALOG_BODIES and isinstance(case.body, dict):
        if key[1].endswith("/versions"):
            case.body["breaking"] = True
        if "schema" in case.body or case.body.get("examples"):
            case.body["schema"] = {"type": "object"}
    elif key == ("POST", "/api/v1/events") and isinstance(case.body, dict):
        headers = case.headers or {}
        sent = [h for h in headers if h.lower() == "idempotency-key"]
        if sent and case.body.get("idempotency_key") is not None:
            for h in sent:
                del headers[h]
    return case
