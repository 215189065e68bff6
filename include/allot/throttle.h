// allot throttling: the in-process library behind rate limits, concurrency pools, circuit breakers,
// degradation levels and adaptive admission. Include this for all of it, or the single headers:
//   throttle/rate.h         Rate, ParseRate, GcraLimiter, Decision (exact GCRA arithmetic)
//   throttle/timezone.h     TimeZone (TZif reader: local calendar days in IANA zones)
//   throttle/quota.h        CalendarQuota (units per local day)
//   throttle/ratelimit.h    RateLimitTable (keys, hierarchical levels, reservations; locked)
//   throttle/pool.h         ConcurrencyPool (held units with leases)
//   throttle/breaker.h      CircuitBreaker, BreakerSet
//   throttle/degradation.h  DegradationMonitor (levels, hysteresis, priority gate), AimdLimiter
//   throttle/config.h       YAML/JSON parsing with field-named errors
// No function reads a clock: every time-dependent call takes `now_ns` (Unix nanoseconds is the
// convention, but any monotonic-enough epoch works). Errors are Result/Status values; nothing throws.
#pragma once

#include "allot/throttle/breaker.h"
#include "allot/throttle/config.h"
#include "allot/throttle/degradation.h"
#include "allot/throttle/pool.h"
#include "allot/throttle/quota.h"
#include "allot/throttle/rate.h"
#include "allot/throttle/ratelimit.h"
#include "allot/throttle/timezone.h"
