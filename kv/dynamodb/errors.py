"""DynamoDB's errors: one exception type, mapped to `__type`, message and status at the edge.

Every failure a DynamoDB client can see is a `DynamoError` carrying the short
type name botocore matches on (`ValidationException`, ...), the message text
(AWS's own wording wherever tests or clients match substrings of it), the
HTTP status, and any extra members the API model defines for that error
(`Item` for ConditionalCheckFailedException, `CancellationReasons` for
TransactionCanceledException).

Status codes and retries follow what botocore does with them (see
/work/shared/research/dynamodb.md §1.5): 400 errors that SDKs must not retry
(validation, failed conditions, cancelled transactions), 400 throttling-type
errors they back off and retry, and 500/503 for our own faults, which they
retry at once.
"""

from __future__ import annotations

from typing import Any

TYPE_PREFIX = "com.amazonaws.dynamodb.v20120810#"

# The API model names the message member `Message` (capital M) for these three;
# every other error uses `message`. botocore reads either, but clients that
# read the body directly follow the model.
_CAPITAL_MESSAGE = frozenset(
    {"TransactionCanceledException", "TransactionInProgressException", "IdempotentParameterMismatchException"}
)


class DynamoError(Exception):
    """An error a DynamoDB client receives as `{"__type": ..., "message": ...}`."""

    def __init__(self, type_name: str, message: str | None = None, *, status: int = 400, **extra: Any) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message
        self.status = status
        self.extra = extra

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"__type": TYPE_PREFIX + self.type_name}
        if self.message is not None:
            body["Message" if self.type_name in _CAPITAL_MESSAGE else "message"] = self.message
        body.update(self.extra)
        return body


def validation(message: str) -> DynamoError:
    return DynamoError("ValidationException", message)


def serialization(message: str | None = None) -> DynamoError:
    return DynamoError("SerializationException", message)


def not_found(message: str = "Requested resource not found") -> DynamoError:
    return DynamoError("ResourceNotFoundException", message)


def table_not_found(table: str) -> DynamoError:
    return DynamoError("ResourceNotFoundException", f"Requested resource not found: Table: {table} not found")


def in_use(message: str) -> DynamoError:
    return DynamoError("ResourceInUseException", message)


def condition_failed(item: dict | None = None) -> DynamoError:
    extra = {} if item is None else {"Item": item}
    return DynamoError("ConditionalCheckFailedException", "The conditional request failed", **extra)


def transaction_conflict() -> DynamoError:
    # What DynamoDB answers a single-item write that meets a transaction in
    # flight on the same item; here, a write that kept losing its commit race.
    return DynamoError(
        "TransactionConflictException", "Transaction is ongoing for the item"
    )


def internal(message: str = "Internal server error") -> DynamoError:
    return DynamoError("InternalServerError", message, status=500)


def unavailable(message: str = "Service unavailable") -> DynamoError:
    # 503 with a type botocore's standard retry mode treats as transient.
    return DynamoError("ServiceUnavailable", message, status=503)


def invalid_expression(kind: str, message: str) -> DynamoError:
    """`Invalid UpdateExpression: <message>` and its siblings."""
    return validation(f"Invalid {kind}: {message}")


def invalid_params(message: str) -> DynamoError:
    return validation(f"One or more parameter values were invalid: {message}")
