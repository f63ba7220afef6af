"""The one DynamoDB table every part of `DynamoStore` shares: its URL, keys, value encoding, paginated reads,
id counters, transactions and its creation (`python -m bot.admin create-tables`).

Values: numbers as Decimal (exact for the counters ADD touches), times as fixed-width ISO strings (they sort),
nested data (payloads, plans, media lists) as JSON strings, crop embeddings as binary.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import boto3
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import ClientError

SCHEME = "dynamodb"
# GSI1: owner (USER#id) of items kept outside the person's partition; GSI2: work lists (DUE#…, DEAD#…);
# GSI3 and GSI4: lookups by another attribute (status, address, customer, event kind, usage day).
INDEXES = ("GSI1", "GSI2", "GSI3", "GSI4")
TTL_ATTRIBUTE = "expires_at"
_TIME = "%Y-%m-%dT%H:%M:%S.%f"
_ser, _deser = TypeSerializer(), TypeDeserializer()


class DynamoUrlError(ValueError):
    """A `dynamodb://` URL that names no region or table, or has an unknown option."""


@dataclass(frozen=True)
class DynamoUrl:
    """`dynamodb://<region>?endpoint=<url>&table=<name>&page_size=<n>`; endpoint only for local servers."""

    region: str
    table: str
    endpoint: str | None = None
    page_size: int | None = None

    @classmethod
    def parse(cls, url: str) -> DynamoUrl:
        parts = urlsplit(url)
        if parts.scheme != SCHEME:
            raise DynamoUrlError(f"not a {SCHEME}:// URL: {url!r}")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = set(query) - {"endpoint", "table", "page_size"}
        if unknown:
            raise DynamoUrlError(f"unknown options {sorted(unknown)} in {url!r}; known: endpoint, table, page_size")
        if not parts.netloc:
            raise DynamoUrlError(f"no region in {url!r}: dynamodb://us-east-1?table=plate-coach")
        if not query.get("table"):
            raise DynamoUrlError(f"no table in {url!r}: add ?table=<name>")
        page = query.get("page_size")
        if page is not None and (not page.isdigit() or int(page) < 1):
            raise DynamoUrlError(f"page_size must be a positive integer, not {page!r}")
        return cls(parts.netloc, query["table"], query.get("endpoint"), int(page) if page else None)


def when(value: datetime | None) -> str | None:
    """A naive UTC time as a string that sorts like the time."""
    return None if value is None else value.strftime(_TIME)


def parse_when(value: str | None) -> datetime | None:
    return None if value is None else datetime.strptime(value, _TIME)


def pad(number: int) -> str:
    """An id in a sort key: fixed width so it sorts as a number."""
    return f"{number:012d}"


def dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def number(value) -> Decimal:
    return Decimal(str(value))


def _plain(value):
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and "." not in str(value) else float(value)
    if isinstance(value, Binary):
        return bytes(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def encode(item: dict) -> dict:
    """A Python item (None values dropped: DynamoDB stores no nulls) in DynamoDB's wire format."""
    return {k: _ser.serialize(v) for k, v in item.items() if v is not None}


def decode(item: dict) -> dict:
    return {k: _plain(_deser.deserialize(v)) for k, v in item.items()}


def values(**named) -> dict:
    """ExpressionAttributeValues from `name=value` (`:name` in the expression)."""
    return {f":{k}": _ser.serialize(v) for k, v in named.items()}


def cancelled_by_condition(error: ClientError) -> bool:
    code = error.response.get("Error", {}).get("Code")
    if code == "ConditionalCheckFailedException":
        return True
    if code == "TransactionCanceledException":
        reasons = error.response.get("CancellationReasons") or []
        return any(r.get("Code") == "ConditionalCheckFailed" for r in reasons) or not reasons
    return False


class DynamoTable:
    """A client for one table: paginated Query/Scan, conditional writes, TransactWriteItems, counters."""

    def __init__(self, url: str):
        self.url = DynamoUrl.parse(url)
        retries = Config(retries={"max_attempts": 8, "mode": "standard"}, max_pool_connections=32)
        self.client = boto3.client(
            "dynamodb", region_name=self.url.region, endpoint_url=self.url.endpoint, config=retries
        )
        self.name = self.url.table

    # reads
    def get(self, pk: str, sk: str) -> dict | None:
        found = self.client.get_item(TableName=self.name, Key=encode({"PK": pk, "SK": sk}), ConsistentRead=True)
        return decode(found["Item"]) if "Item" in found else None

    def get_many(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict]:
        """BatchGetItem (consistent), 100 keys a request, retrying what DynamoDB left unprocessed; by key."""
        found: dict[tuple[str, str], dict] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 100):
            batch = [encode({"PK": pk, "SK": sk}) for pk, sk in unique[start : start + 100]]
            pending, pause = {self.name: {"Keys": batch, "ConsistentRead": True}}, 0.05
            while pending:
                answer = self.client.batch_get_item(RequestItems=pending)
                for item in map(decode, answer.get("Responses", {}).get(self.name, [])):
                    found[(item["PK"], item["SK"])] = item
                pending = answer.get("UnprocessedKeys") or {}
                if pending:
                    time.sleep(pause)
                    pause = min(pause * 2, 2.0)
        return found

    def _pages(self, call, kwargs: dict, limit: int | None) -> Iterator[dict]:
        """Every item of a Query or Scan, page after page (LastEvaluatedKey), up to `limit` items."""
        kwargs = {"TableName": self.name, **kwargs}
        if self.url.page_size:
            kwargs["Limit"] = self.url.page_size
        seen = 0
        while True:
            page = call(**kwargs)
            for item in page.get("Items", []):
                yield decode(item)
                seen += 1
                if limit is not None and seen >= limit:
                    return
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def query(
        self,
        pk: str,
        sk_prefix: str | None = None,
        index: str | None = None,
        between: tuple[str, str] | None = None,
        until: str | None = None,
        since: str | None = None,
        newest_first: bool = False,
        limit: int | None = None,
        filter_expression: str | None = None,
        filter_values: dict | None = None,
    ) -> Iterator[dict]:
        """Items of partition `pk` (of the table or of GSI `index`) whose sort key starts with `sk_prefix`, lies
        in `between` (inclusive), is at most `until` or at least `since`."""
        hash_key, range_key = ("PK", "SK") if index is None else (f"{index}PK", f"{index}SK")
        condition, named = "#h = :h", {":h": _ser.serialize(pk)}
        if sk_prefix is not None:
            condition += " AND begins_with(#r, :p)"
            named[":p"] = _ser.serialize(sk_prefix)
        elif between is not None:
            condition += " AND #r BETWEEN :a AND :b"
            named.update(values(a=between[0], b=between[1]))
        elif until is not None:
            condition += " AND #r <= :u"
            named[":u"] = _ser.serialize(until)
        elif since is not None:
            condition += " AND #r >= :s"
            named[":s"] = _ser.serialize(since)
        names = {"#h": hash_key, **({"#r": range_key} if "#r" in condition else {})}
        kwargs = {
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {**named, **(filter_values or {})},
            "ScanIndexForward": not newest_first,
        }
        if filter_expression:
            kwargs["FilterExpression"] = filter_expression
        if index is None:
            kwargs["ConsistentRead"] = True
        else:
            kwargs["IndexName"] = index
        return self._pages(self.client.query, kwargs, limit)

    def count(self, pk: str, index: str) -> int:
        """How many items partition `pk` of GSI `index` holds (Select=COUNT: no item travels), page after page."""
        kwargs = {
            "TableName": self.name,
            "IndexName": index,
            "KeyConditionExpression": "#h = :h",
            "ExpressionAttributeNames": {"#h": f"{index}PK"},
            "ExpressionAttributeValues": values(h=pk),
            "Select": "COUNT",
        }
        if self.url.page_size:
            kwargs["Limit"] = self.url.page_size
        total = 0
        while True:
            page = self.client.query(**kwargs)
            total += page["Count"]
            if "LastEvaluatedKey" not in page:
                return total
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def scan(self, kind: str) -> Iterator[dict]:
        """Every item of one kind (the `type` attribute): admin listings only, never on a message's path."""
        kwargs = {
            "FilterExpression": "#t = :t",
            "ExpressionAttributeNames": {"#t": "type"},
            "ExpressionAttributeValues": values(t=kind),
            "ConsistentRead": True,
        }
        return self._pages(self.client.scan, kwargs, None)

    # writes
    def put(self, item: dict, condition: str | None = None, **named) -> bool:
        """Put `item`; False when `condition` (e.g. `attribute_not_exists(PK)`) refused it."""
        kwargs = {"TableName": self.name, "Item": encode(item)}
        if condition:
            kwargs["ConditionExpression"] = condition
            if named:
                kwargs["ExpressionAttributeValues"] = values(**named)
        try:
            self.client.put_item(**kwargs)
        except ClientError as error:
            if cancelled_by_condition(error):
                return False
            raise
        return True

    def update(
        self, pk: str, sk: str, expression: str, condition: str | None = None, names: dict | None = None, **named
    ) -> dict | None:
        """UpdateItem; the item after it, or None when `condition` refused it."""
        kwargs = self.update_op(pk, sk, expression, condition, names, **named)
        try:
            found = self.client.update_item(TableName=self.name, ReturnValues="ALL_NEW", **kwargs)
        except ClientError as error:
            if cancelled_by_condition(error):
                return None
            raise
        return decode(found.get("Attributes", {}))

    @staticmethod
    def update_op(pk, sk, expression, condition=None, names=None, **named) -> dict:
        op = {"Key": encode({"PK": pk, "SK": sk}), "UpdateExpression": expression}
        if condition:
            op["ConditionExpression"] = condition
        if names:
            op["ExpressionAttributeNames"] = names
        if named:
            op["ExpressionAttributeValues"] = values(**named)
        return op

    def delete(self, pk: str, sk: str, condition: str | None = None, **named) -> bool:
        kwargs = {"TableName": self.name, "Key": encode({"PK": pk, "SK": sk})}
        if condition:
            kwargs["ConditionExpression"] = condition
            if named:
                kwargs["ExpressionAttributeValues"] = values(**named)
        try:
            self.client.delete_item(**kwargs)
        except ClientError as error:
            if cancelled_by_condition(error):
                return False
            raise
        return True

    def transact(self, ops: list[dict]) -> bool:
        """TransactWriteItems of `ops` ({"Put": …}, {"Update": …}, …, without TableName): all or none. False when
        a condition refused it. At most 100 operations (DynamoDB's limit)."""
        return self.refused(ops) is None

    def refused(self, ops: list[dict]) -> int | None:
        """Run `ops` as one transaction; the index of the op whose condition refused them all, or None when all
        were applied. A conflict with another transaction on the same items is retried."""
        if len(ops) > 100:
            raise ValueError(f"a DynamoDB transaction holds at most 100 writes, not {len(ops)}")
        items = [{kind: {"TableName": self.name, **body} for kind, body in op.items()} for op in ops]
        pause = 0.02
        for attempt in range(10):
            try:
                self.client.transact_write_items(TransactItems=items)
                return None
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise
                reasons = [r.get("Code") for r in error.response.get("CancellationReasons") or []]
                failed = [i for i, code in enumerate(reasons) if code == "ConditionalCheckFailed"]
                if failed:
                    return failed[0]
                if "TransactionConflict" not in reasons or attempt == 9:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 1.0)
        raise AssertionError("unreachable")

    def delete_all(self, keys: list[tuple[str, str]]) -> None:
        """BatchWriteItem deletes, 25 a request, retrying what DynamoDB left unprocessed."""
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 25):
            requests = [
                {"DeleteRequest": {"Key": encode({"PK": pk, "SK": sk})}} for pk, sk in unique[start : start + 25]
            ]
            pending, pause = {self.name: requests}, 0.05
            while pending:
                pending = self.client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
                if pending:
                    time.sleep(pause)
                    pause = min(pause * 2, 2.0)

    def next_id(self, name: str) -> int:
        """A new id for `name` (users, messages, meals…): an atomic ADD on one counter item, like a SQL sequence.
        Each counter is its own partition; one item takes about 1000 writes a second, so the busiest (events, about
        four a message) bounds the bot near 250 messages a second, far above what one WhatsApp number sends."""
        found = self.client.update_item(
            TableName=self.name,
            Key=encode({"PK": f"COUNTER#{name}", "SK": "COUNTER"}),
            UpdateExpression="ADD #n :one",
            ExpressionAttributeNames={"#n": "value"},
            ExpressionAttributeValues=values(one=1),
            ReturnValues="UPDATED_NEW",
        )
        return int(_deser.deserialize(found["Attributes"]["value"]))

    # the table itself
    def create(self, wait: bool = True) -> bool:
        """Create the table with its indexes and TTL; False when it exists already (then only TTL is checked)."""
        attributes = [{"AttributeName": n, "AttributeType": "S"} for n in ("PK", "SK")]
        indexes = []
        for index in INDEXES:
            attributes += [{"AttributeName": f"{index}{k}", "AttributeType": "S"} for k in ("PK", "SK")]
            indexes.append(
                {
                    "IndexName": index,
                    "KeySchema": [
                        {"AttributeName": f"{index}PK", "KeyType": "HASH"},
                        {"AttributeName": f"{index}SK", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            )
        created = True
        try:
            self.client.create_table(
                TableName=self.name,
                AttributeDefinitions=attributes,
                KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
                GlobalSecondaryIndexes=indexes,
                BillingMode="PAY_PER_REQUEST",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceInUseException":
                raise
            created = False
        if wait:
            self.client.get_waiter("table_exists").wait(TableName=self.name, WaiterConfig={"Delay": 1})
        ttl = self.client.describe_time_to_live(TableName=self.name)["TimeToLiveDescription"]
        if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            spec = {"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
            self.client.update_time_to_live(TableName=self.name, TimeToLiveSpecification=spec)
        return created

    def describe(self) -> dict:
        return self.client.describe_table(TableName=self.name)["Table"]
