"""The journal, blob, delivery and embedded-broker tables (SQLAlchemy Core).

Times are epoch seconds (float): cheap to write in batches, trivially sortable,
identical on SQLite and PostgreSQL. Migrations in ``hub/db/migrations`` create
exactly these tables; a test checks they agree.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

messages = Table(
    "messages",
    metadata,
    Column("id", String(32), primary_key=True, comment="time-ordered message id"),
    Column("received_at", Float, nullable=False),
    Column("source", String(64), nullable=False),
    Column("protocol", String(16), nullable=False),
    Column("peer", String(128), nullable=False, default=""),
    Column("sender", String(256), nullable=False, default="", comment="MSH-3|MSH-4"),
    Column("control_id", String(64), nullable=False, default=""),
    Column("message_type", String(32), nullable=False, default=""),
    Column("sha256", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("patient_key", String(256), nullable=True),
    Column("ack_code", String(2), nullable=False, default=""),
    Column("ack", LargeBinary, nullable=True, comment="the ACK sent, returned again on duplicates"),
    Column("error", Text, nullable=True),
    Column("replay_of", String(32), nullable=True),
    Column("updated_at", Float, nullable=False),
)
Index("ix_messages_control_sender", messages.c.control_id, messages.c.sender)
Index("ix_messages_received_at", messages.c.received_at)
Index("ix_messages_status", messages.c.status)
Index("ix_messages_patient_key", messages.c.patient_key)

events = Table(
    "events",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("message_id", String(32), nullable=False),
    Column("at", Float, nullable=False),
    Column("stage", String(24), nullable=False),
    Column("destination", String(64), nullable=True),
    Column("detail", Text, nullable=True),
    Column("duration_ms", Float, nullable=True),
)
Index("ix_events_message_id", events.c.message_id)

deliveries = Table(
    "deliveries",
    metadata,
    Column("key", String(128), primary_key=True, comment="idempotency key: message x destination"),
    Column("message_id", String(32), nullable=False),
    Column("destination", String(64), nullable=False),
    Column("status", String(16), nullable=False, comment="pending, delivered, parked"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
    Column("response", Text, nullable=True, comment="what the destination answered"),
    Column("updated_at", Float, nullable=False),
)
Index("ix_deliveries_message_id", deliveries.c.message_id)
Index("ix_deliveries_status", deliveries.c.status)

blobs = Table(
    "blobs",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", Integer, nullable=False),
    Column("data", LargeBinary, nullable=True, comment="inline content for small blobs"),
    Column("path", String(256), nullable=True, comment="relative file path for large blobs"),
)

broker_messages = Table(
    "broker_messages",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False, comment="publish order"),
    Column("queue", String(128), nullable=False),
    Column("message_id", String(64), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("headers", Text, nullable=False, default="{}"),
    Column("created_at", Float, nullable=False),
    Column("available_at", Float, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("parked", Boolean, nullable=False, default=False),
    Column("reason", Text, nullable=True),
    Column("parked_at", Float, nullable=True),
)
Index("ix_broker_messages_queue", broker_messages.c.queue, broker_messages.c.id)

# -- identity (SRRI): local records, regional identities, links, log, reviews ----------
#
# A local record is keyed "<authority>|<IPP>"; its current link (identity_id,
# provenance, score, rule) lives on the record row, and every change of it is
# an identity_log row, so the graph at any time can be replayed from the log.

identity_records = Table(
    "identity_records",
    metadata,
    Column("key", String(300), primary_key=True, comment="<authority>|<IPP>"),
    Column("authority", String(128), nullable=False),
    Column("ipp", String(128), nullable=False),
    Column("identity_id", String(32), nullable=False, comment="regional identity linked to"),
    Column("provenance", String(8), nullable=False, comment="auto | manual | source"),
    Column("score", Float, nullable=True),
    Column("rule", String(64), nullable=False),
    Column("status", String(8), nullable=False, comment="RNIV PROV/RECUP/VALI/QUAL"),
    Column("attributes", String(64), nullable=False, default="", comment="DOUT,FICT,..."),
    Column("ins_system", String(64), nullable=True),
    Column("ins_value", String(32), nullable=True),
    Column("qualified", Boolean, nullable=False, default=False),
    Column("traits", Text, nullable=False, comment="raw traits, JSON"),
    Column("normalized", Text, nullable=False,
           comment="normalised traits, JSON (identity.codec): not normalised again"),
    Column("active", Boolean, nullable=False, default=True, comment="false once merged away"),
    Column("merged_into", String(300), nullable=True),
    Column("updated_at", Float, nullable=False),
)
Index("ix_identity_records_identity", identity_records.c.identity_id)
Index("ix_identity_records_ins", identity_records.c.ins_value)

identity_blocks = Table(
    "identity_blocks",
    metadata,
    Column("block", String(128), primary_key=True, comment="blocking key"),
    Column("record_key", String(300), primary_key=True),
)
Index("ix_identity_blocks_record", identity_blocks.c.record_key)

identity_identities = Table(
    "identity_identities",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("created_at", Float, nullable=False),
)

identity_log = Table(
    "identity_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("record_key", String(300), nullable=True),
    Column("identity_id", String(32), nullable=True),
    Column("detail", Text, nullable=False, default=""),
    Column("message_id", String(32), nullable=True, comment="the ADT that caused it"),
)
Index("ix_identity_log_record", identity_log.c.record_key)
Index("ix_identity_log_identity", identity_log.c.identity_id)

identity_reviews = Table(
    "identity_reviews",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(16), nullable=False, comment="review | collision"),
    Column("record_key", String(300), nullable=False, comment="the incoming record"),
    Column("other_key", String(300), nullable=False, comment="the stored record"),
    Column("score", Float, nullable=True),
    Column("explanation", Text, nullable=False, comment="field by field, JSON"),
    Column("status", String(16), nullable=False, comment="open | linked | separated"),
    Column("opened_at", Float, nullable=False),
    Column("decided_at", Float, nullable=True),
    Column("decided_by", String(128), nullable=True),
    Column("reason", Text, nullable=True),
)
Index("ix_identity_reviews_status", identity_reviews.c.status)
Index("ix_identity_reviews_record", identity_reviews.c.record_key)

identity_names = Table(
    "identity_names",
    metadata,
    Column("field", String(16), primary_key=True),
    Column("value", String(128), primary_key=True),
    Column("count", Integer, nullable=False),
)

# -- document repository (hub.repository) ------------------------------------
#
# One row per document version. The columns are what ITI-67 searches on; the
# whole XDS metadata and the DocumentReference mapped from the CDA header are
# kept as JSON in ``meta``. Patients are found through ``document_identifiers``
# (one row per identifier a document was filed under), so that a search by
# one identifier touches the few rows of that patient, whatever the size of
# the repository.

documents = Table(
    "documents",
    metadata,
    Column("id", String(32), primary_key=True, comment="DocumentReference id, time-ordered"),
    Column("unique_id", String(256), nullable=False, comment="XDS uniqueId (CDA id)"),
    Column("status", String(24), nullable=False,
           comment="current, superseded, entered-in-error"),
    Column("sha256", String(64), nullable=False, comment="blob of the document bytes"),
    Column("sha1", String(40), nullable=False, comment="XDS hash"),
    Column("size", Integer, nullable=False),
    Column("mime_type", String(128), nullable=False),
    Column("set_id", String(256), nullable=True),
    Column("version", Integer, nullable=True),
    Column("replaces", String(32), nullable=True, comment="id of the version it replaced"),
    Column("replaced_by", String(32), nullable=True, comment="id of the version replacing it"),
    Column("submission_id", String(32), nullable=False),
    Column("patient_system", String(128), nullable=False, comment="subject: INS, else IPP"),
    Column("patient_value", String(64), nullable=False),
    Column("ins_system", String(128), nullable=True),
    Column("ins_value", String(64), nullable=True),
    Column("shareable", Boolean, nullable=False,
           comment="patient has a qualified INS: may go to national services"),
    Column("masque_ps", Boolean, nullable=False),
    Column("invisible_patient", Boolean, nullable=False),
    Column("invisible_rep_legaux", Boolean, nullable=False),
    Column("connexion_secrete", Boolean, nullable=False),
    Column("confidentiality", String(16), nullable=False, comment="N, R or V"),
    Column("type_code", String(64), nullable=False),
    Column("class_code", String(64), nullable=True),
    Column("format_code", String(128), nullable=False),
    Column("facility_code", String(64), nullable=True),
    Column("setting_code", String(64), nullable=True),
    Column("author_families", Text, nullable=False, comment="|FAMILY|FAMILY| upper case"),
    Column("creation_at", Float, nullable=False),
    Column("service_start_at", Float, nullable=True),
    Column("service_stop_at", Float, nullable=True),
    Column("filed_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("source", String(64), nullable=False),
    Column("message_id", String(32), nullable=True, comment="journal message it came in"),
    Column("meta", Text, nullable=False, comment="XDS metadata and DocumentReference (JSON)"),
)
Index("ux_documents_unique_id", documents.c.unique_id, unique=True)
Index("ix_documents_set_id", documents.c.set_id)
Index("ix_documents_submission_id", documents.c.submission_id)

document_identifiers = Table(
    "document_identifiers",
    metadata,
    Column("system", String(128), primary_key=True),
    Column("value", String(64), primary_key=True),
    Column("document_id", String(32), primary_key=True),
)

submission_sets = Table(
    "submission_sets",
    metadata,
    Column("id", String(32), primary_key=True, comment="List id"),
    Column("unique_id", String(256), nullable=False),
    Column("source_id", String(256), nullable=False, comment="XDS sourceId: the sender"),
    Column("patient_system", String(128), nullable=False),
    Column("patient_value", String(64), nullable=False),
    Column("submitted_at", Float, nullable=False),
    Column("source", String(64), nullable=False),
    Column("message_id", String(32), nullable=True),
    Column("title", Text, nullable=True),
)
Index("ix_submission_sets_patient", submission_sets.c.patient_value,
      submission_sets.c.patient_system)

# Imaging (component ``imaging``): one row per DICOM instance received, written
# in the intake transaction, with the header attributes the router and C-FIND
# use (JSON ``facts``); one row per study once it is complete (quiet period),
# with the FHIR ImagingStudy; one row per patient identifier a study is
# indexed under (local PatientID, INS, regional identifier).

imaging_instances = Table(
    "imaging_instances",
    metadata,
    Column("message_id", String(32), primary_key=True, comment="journal message"),
    Column("sop_instance_uid", String(64), nullable=False),
    Column("study_uid", String(64), nullable=False),
    Column("series_uid", String(64), nullable=False),
    Column("source", String(64), nullable=False),
    Column("received_at", Float, nullable=False),
    Column("size", Integer, nullable=False),
    Column("facts", Text, nullable=False, comment="header attributes by keyword (JSON)"),
)
Index("ix_imaging_instances_study", imaging_instances.c.study_uid,
      imaging_instances.c.received_at)
Index("ix_imaging_instances_received", imaging_instances.c.received_at)

imaging_studies = Table(
    "imaging_studies",
    metadata,
    Column("study_uid", String(64), primary_key=True),
    Column("source", String(64), nullable=False),
    Column("patient_system", String(128), nullable=True, comment="local PatientID authority"),
    Column("patient_value", String(64), nullable=True, comment="local PatientID"),
    Column("regional_id", String(64), nullable=True),
    Column("ins_value", String(64), nullable=True, comment="qualified INS, when known"),
    Column("study_date", String(8), nullable=True),
    Column("accession_number", String(64), nullable=True),
    Column("modalities", String(128), nullable=False, default=""),
    Column("description", Text, nullable=True),
    Column("series", Integer, nullable=False),
    Column("instances", Integer, nullable=False),
    Column("last_received_at", Float, nullable=False),
    Column("indexed_at", Float, nullable=False),
    Column("resource", Text, nullable=False, comment="FHIR ImagingStudy (JSON)"),
)
Index("ix_imaging_studies_indexed_at", imaging_studies.c.indexed_at)

imaging_study_identifiers = Table(
    "imaging_study_identifiers",
    metadata,
    Column("system", String(128), primary_key=True),
    Column("value", String(64), primary_key=True),
    Column("study_uid", String(64), primary_key=True),
)

# MSSanté (component ``mssante``): the RPPS -> MSSanté address directory; one
# row per delivery (attempts, the Message-ID sent) and one per recipient of a
# sent mail (accepted or refused, read receipts), so that a retry never mails
# a recipient twice and an MDN finds the message it acknowledges.

mssante_directory = Table(
    "mssante_directory",
    metadata,
    Column("rpps", String(16), primary_key=True, comment="RPPS number (11 digits)"),
    Column("address", String(256), nullable=False, comment="MSSanté mailbox"),
    Column("family", String(128), nullable=True),
    Column("given", String(128), nullable=True),
    Column("origin", String(32), nullable=False, comment="csv, api"),
    Column("updated_at", Float, nullable=False),
)

mssante_deliveries = Table(
    "mssante_deliveries",
    metadata,
    Column("delivery_key", String(80), primary_key=True),
    Column("mail_id", String(256), nullable=False, comment="RFC 5322 Message-ID sent"),
    Column("attempts", Integer, nullable=False),
    Column("updated_at", Float, nullable=False),
)

mssante_recipients = Table(
    "mssante_recipients",
    metadata,
    Column("delivery_key", String(80), primary_key=True),
    Column("address", String(256), primary_key=True),
    Column("mail_id", String(256), nullable=False),
    Column("message_id", String(32), nullable=False, comment="journal message mailed"),
    Column("recipient_id", String(64), nullable=False, comment="RPPS, IDNPS or INS"),
    Column("status", String(16), nullable=False, comment="sent, refused, read"),
    Column("smtp_code", Integer, nullable=True),
    Column("read_asked", Boolean, nullable=False),
    Column("updated_at", Float, nullable=False),
)
Index("ix_mssante_recipients_mail_id", mssante_recipients.c.mail_id)

# Access control: operators (users) with argon2 password hashes, systems
# (clients) with the SHA-256 of their API key and optionally of their client
# certificate, and the opaque tokens issued to both (login sessions, OAuth2
# access tokens), kept as SHA-256 digests so that a copy of the database
# holds no usable credential. Lists (roles, scopes...) are JSON arrays.

auth_users = Table(
    "auth_users",
    metadata,
    Column("login", String(64), primary_key=True),
    Column("display_name", String(128), nullable=False),
    Column("roles", Text, nullable=False, comment="JSON array of role names"),
    Column("acts_as", String(32), nullable=True, comment="document readers: professional..."),
    Column("password_hash", String(256), nullable=False, comment="argon2id, PHC string"),
    Column("disabled", Boolean, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("rotated_at", Float, nullable=False),
)

auth_clients = Table(
    "auth_clients",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("roles", Text, nullable=False, comment="JSON array of role names"),
    Column("scopes", Text, nullable=False, comment="JSON array of SMART scopes"),
    Column("establishments", Text, nullable=False, comment="JSON array of OIDs / FINESS"),
    Column("patients", Text, nullable=False, comment="JSON array of system|value"),
    Column("acts_as", String(32), nullable=True),
    Column("source", String(64), nullable=True, comment="the inbound source it is bound to"),
    Column("key_hash", String(64), nullable=False, comment="SHA-256 of the API key (hex)"),
    Column("cert_sha256", String(64), nullable=True, comment="client certificate fingerprint"),
    Column("disabled", Boolean, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("rotated_at", Float, nullable=False),
)
Index("ix_auth_clients_key_hash", auth_clients.c.key_hash, unique=True)
Index("ix_auth_clients_cert_sha256", auth_clients.c.cert_sha256)

auth_tokens = Table(
    "auth_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True, comment="SHA-256 of the token (hex)"),
    Column("kind", String(16), nullable=False, comment="session (a user), access (a client)"),
    Column("subject", String(64), nullable=False, comment="user login or client name"),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("revoked", Boolean, nullable=False),
)
Index("ix_auth_tokens_subject", auth_tokens.c.kind, auth_tokens.c.subject)

# -- audit trail (hub/audit) ------------------------------------------------------

audit_records = Table(
    "audit_records",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False,
           comment="position in the hash chain, from 1"),
    Column("recorded_at", Float, nullable=False),
    Column("principal_id", String(256), nullable=False),
    Column("action", String(1), nullable=False, comment="C R U D E"),
    Column("outcome", Integer, nullable=False, comment="0, 4, 8, 12 (DICOM PS3.15 A.5)"),
    Column("content", Text, nullable=False, comment="canonical JSON of the record"),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)
Index("ix_audit_records_recorded_at", audit_records.c.recorded_at)
Index("ix_audit_records_principal", audit_records.c.principal_id, audit_records.c.seq)

audit_patients = Table(
    "audit_patients",
    metadata,
    Column("patient", String(256), primary_key=True, comment="system|value"),
    Column("seq", BigInteger, primary_key=True),
)
