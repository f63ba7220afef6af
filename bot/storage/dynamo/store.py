"""`DynamoStore`: every store protocol of `bot.storage.protocols` on one DynamoDB table (single-table design).

Selected by `BOT_DATABASE_URL=dynamodb://<region>?table=<name>[&endpoint=<url>][&page_size=<n>]`.

Keys (`PK`, `SK`, all strings) and what reads them:

| item | PK / SK | access pattern |
|---|---|---|
| person | `USER#<id>` / `USER` | get by id |
| phone claim | `PHONE#<phone>` / `PHONE` | find a person by phone; conditional put = one person per phone |
| profile, pending question, learned prefs, meal prefs, subscription | `USER#<id>` / `PROFILE`, `CLARIFY`, `PERSONAL`, `MEALPREFS`, `SUB` | get |
| meal | `USER#<id>` / `MEAL#<eaten_at>#<id>` | latest logged meal: first of a descending Query |
| meal of a message | `USER#<id>` / `MEALMSG#<message id>` | conditional put = one meal per message |
| day totals, usage | `USER#<id>` / `DAY#<day>`, `USAGE#<period>#<key>` | get; changed by ADD only |
| corrections, crops, photo questions, ratings, stored photos, plans | `USER#<id>` / `EXAMPLE#`, `CROP#`, `PQ#`, `RATING#`, `PHOTO#`, `PLAN#<week>` | Query by prefix |
| message | `MSG#<sid>` / `MSG` | get by MessageSid; conditional put = idempotent insert |
| reply claim, events of a message | `MSG#<sid>` / `OUT#<kind>`, `EV#<id>` | conditional put = one reply per (sid, kind); Query |
| reply (outbox row) | `OUTBOX#<id>` / `OUT` | get/claim by id |
| other events, short links, pointers by id | `EVENT#<id>`, `LINK#<id>`, `PQID#<id>`, `PLAN#<id>` | get |
| Stripe event applied (TTL) | `STRIPEEVENT#<id>` | conditional put = each event applied once |
| Twilio media / Stripe cancellations to do | `MEDIADEL#<sid>`, `STRIPECANCEL#<id>` | GSI2 work list |
| who sent a photo | `SHA#<sha256>` / `USER#<id>` | does anybody else have these bytes |
| scheduled job | `USER#<id>` / `JOB#<key>` | the person's jobs, a re-plan's cancel by key prefix: Query |
| job key claim, job by id | `JOBKEY#<key>` / `JOBKEY`, `JOB#<id>` / `JOB` | conditional put = one job per key; get |
| calendar settings, feed token | `USER#<id>` / `CALENDAR`, `FEED#<sha256>` / `FEED` | get; conditional put = one owner |
| id counters | `COUNTER#<name>` / `COUNTER` | ADD 1: the next id |

Indexes (all projecting ALL): GSI1 owner (`USER#<id>`: messages by creation time, replies, events, links of a
person: export, delete, replies sent, last address and last message); GSI2 work lists (`DUE#MSG`, `DUE#OUT`,
`DUE#SUB`, `DUE#MEDIADEL`, `DUE#STRIPECANCEL`, `DUE#JOB` sorted by a time no later than due; `DEAD#MSG`,
`DEAD#OUT` by id); GSI3 (`MSGSTATUS#<status>`, `TO#<address>`, `CUSTOMER#<id>`, `USAGEDAY#<day>`,
`USAGEMONTH#<month>`, `USERS`, `GOOGLE#connected`); GSI4 (`EVKIND#<kind>` by time, `CROPS#EMBEDDED` for the
gallery, `OUTSTATUS#<status>`, `SUBS`, `PLANS` by the time each plan changed); the count of people per tier is
`TIERS/COUNT`.
Scan (by `type`) only in operators' listings of everything: `events()`, `outbound()`, `labelled_examples()`,
`stored_photos()` without a person. Index reads are eventually
consistent: every decision that must be exact re-reads the item or writes under a condition.

Guarantees: every method is atomic by itself (one conditional write, or one TransactWriteItems); `unit_of_work`
defers the writes that commit a unit (message state, Stripe event id) to its end: see `bot.storage.dynamo.base`.
Every Query and Scan follows LastEvaluatedKey to the end (or to the items asked for).
"""

from __future__ import annotations

from bot.storage.dynamo.billing import DynamoBilling
from bot.storage.dynamo.calendar import DynamoCalendar
from bot.storage.dynamo.events import DynamoEvents
from bot.storage.dynamo.gallery import DynamoGallery
from bot.storage.dynamo.jobs import DynamoJobs
from bot.storage.dynamo.messages import DynamoMessages
from bot.storage.dynamo.ops import DynamoOps
from bot.storage.dynamo.outbox import DynamoOutbox
from bot.storage.dynamo.people import DynamoPendingQuestions, DynamoPeople
from bot.storage.dynamo.personal import DynamoPersonal
from bot.storage.dynamo.plans import DynamoPlans
from bot.storage.dynamo.privacy import DynamoPrivacy
from bot.storage.dynamo.usage import DynamoUsage
from bot.storage.dynamo.work import DynamoWork


class DynamoStore(
    DynamoPeople,
    DynamoPendingQuestions,
    DynamoGallery,
    DynamoMessages,
    DynamoUsage,
    DynamoOutbox,
    DynamoWork,
    DynamoEvents,
    DynamoPrivacy,
    DynamoPlans,
    DynamoPersonal,
    DynamoBilling,
    DynamoOps,
    DynamoJobs,
    DynamoCalendar,
):
    """The DynamoDB implementation of `bot.storage.protocols.BillingBotStore`, `OpsStore` and `CalendarStore`
    (`DynamoStore(dynamodb_url)`)."""
