"""The outbox channel for incident chat rooms, registered with incidents' sender registry.

Imported from ChatopsConfig.ready(), so incidents never imports chat-ops. A room row is addressed by
Fireline itself ("<backend>:<incident id>"), so it has no address field and is not offered for contacts.
"""

from __future__ import annotations

from incidents.channels import Sender, register

from .constants import ROOM_CHANNEL


@register
class RoomSender(Sender):
    kind = ROOM_CHANNEL
    label = "Incident chat room"

    def send(self, notification) -> None:
        from .services import room_send

        room_send(notification)
