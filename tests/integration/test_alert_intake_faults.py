"""The alert intake when PostgreSQL drops its connection between two payloads (a restart, a failover).

The intake's statement doubles as the connection's health check: a connection found dead outside a
transaction is replaced and the statement run once more, so the monitor gets its 202 and the payload
is stored exactly once.
"""

import json

import pytest
from django.db import connection, connections

from incidents.models import Alert, AlertPayload, Incident, PayloadStatus
from incidents.services.alerts import alert_intake
from tests.incidents.api.test_alerts import firing

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the server must drop a real connection"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def drop_the_intake_connection():
    """End this process's database session from another session, as a server restart would."""
    pid = connection.connection.info.backend_pid
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            assert cursor.fetchone() == (True,)
    finally:
        other.close()


def take(fingerprint: str) -> dict:
    body = json.dumps(firing(fingerprint, group="restart")).encode()
    return alert_intake(integration="alertmanager", body=body, content_type="application/json")[1]


@pytest.mark.parametrize("remembered", [False, True], ids=["keys read first", "keys remembered"])
def test_a_repeat_after_the_connection_dropped_is_stored_once(feature, remembered):
    opened = take("restart-1")["incidents_opened"]
    take("restart-1")  # the keys are read and remembered: the next repeat goes straight to the write
    if not remembered:
        from incidents.services.alert_statements import forget_remembered_keys

        forget_remembered_keys()
    drop_the_intake_connection()
    again = take("restart-1")
    assert again["deduplicated"] == 1 and again["incidents_updated"] == opened
    assert AlertPayload.objects.filter(status=PayloadStatus.PROCESSED).count() == 3
    assert not AlertPayload.objects.exclude(status=PayloadStatus.PROCESSED).exists()
    assert Alert.objects.count() == 3 and Incident.objects.get().alert_count == 3


def test_inside_a_transaction_a_dropped_connection_is_an_error_not_a_retry(feature):
    """In a transaction the earlier statements are gone with the connection: running on would half-write."""
    from django.db import OperationalError, transaction

    take("tx-1")
    take("tx-1")
    with pytest.raises(OperationalError), transaction.atomic():
        connection.ensure_connection()
        drop_the_intake_connection()
        take("tx-1")
    connection.close()
    assert AlertPayload.objects.count() == 2
