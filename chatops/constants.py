"""Chat-ops values other modules share."""

# The outbox channel (Notification.channel) of a post into an incident's chat room.
ROOM_CHANNEL = "room"
