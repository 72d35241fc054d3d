"""Uses the client openapi-python-client generated from the served /openapi.json
(package `wacontacts_client` on PYTHONPATH) against the sandbox's linked `default`
session: lists contacts with paging, gets one, checks numbers, maps a LID both ways,
and reads a documented error as its typed model. Exits non-zero on the first mismatch.

usage: use_client.py BASE_URL API_KEY
"""

import sys

from wacontacts_client import AuthenticatedClient, Client
from wacontacts_client.api.contacts import check_exists, get_contact, list_contacts
from wacontacts_client.api.health import health
from wacontacts_client.api.lids import lid_by_pn, pn_by_lid
from wacontacts_client.api.wawp import wawp_list_contacts
from wacontacts_client.models import ErrorBody, Health, NumberExists, WahaContact
from wacontacts_client.models.list_contacts_sort_by import ListContactsSortBy

base, key = sys.argv[1], sys.argv[2]
client = AuthenticatedClient(base_url=base, token=key, prefix="", auth_header_name="X-Api-Key")


def expect(cond: bool, what: str) -> None:
    if not cond:
        sys.exit(f"client check failed: {what}")
    print(f"ok: {what}")


# Public: no key needed.
ready = health.sync(client=Client(base_url=base))
expect(isinstance(ready, Health) and ready.status == "ok", "GET /health without a key")

# Paging: two pages of two, disjoint, in id order, continuing each other.
first = list_contacts.sync(client=client, session="default", limit=2, offset=0)
second = list_contacts.sync(client=client, session="default", limit=2, offset=2)
expect(
    isinstance(first, list) and len(first) == 2 and all(isinstance(c, WahaContact) for c in first),
    "first page: two typed contacts",
)
expect(isinstance(second, list) and len(second) >= 1, "second page is not empty")
ids = [c.id for c in first + second]
expect(len(set(ids)) == len(ids) and ids == sorted(ids), f"pages are disjoint and in id order: {ids}")
by_name = list_contacts.sync(client=client, session="default", limit=10, sort_by=ListContactsSortBy.NAME)
names = [c.name or "" for c in by_name]
expect(names == sorted(names), "sortBy=name orders by name")

# One contact, by the id the listing gave.
one = get_contact.sync(client=client, contact_id=first[0].id, session="default")
expect(isinstance(one, WahaContact) and one.id == first[0].id, f"get_contact({first[0].id})")

# Existence check: a demo number is on WhatsApp, with its LID.
found = check_exists.sync(client=client, phone="15550100001", session="default")
expect(isinstance(found, NumberExists) and found.number_exists, "15550100001 is on WhatsApp")
expect(found.chat_id == "15550100001@c.us", f"canonical chat id: {found.chat_id}")
missing = check_exists.sync(client=client, phone="15550109999", session="default")
expect(isinstance(missing, NumberExists) and not missing.number_exists, "15550109999 is not")

# LID mapping, both ways.
mapped = lid_by_pn.sync(client=client, session="default", phone_number="15550100001")
expect(mapped is not None and isinstance(mapped.lid, str) and mapped.lid.endswith("@lid"), f"LID of 15550100001: {mapped.lid}")
back = pn_by_lid.sync(client=client, session="default", lid=mapped.lid)
expect(back is not None and back.pn == "15550100001@c.us", f"number of {mapped.lid}: {back.pn}")

# A documented error comes back as its model.
unknown = get_contact.sync_detailed(client=client, contact_id="15550109999", session="default")
expect(
    unknown.status_code == 404 and isinstance(unknown.parsed, ErrorBody) and unknown.parsed.code == "contact_not_found",
    "an unknown contact is a typed 404 ErrorBody",
)
nokey = list_contacts.sync_detailed(client=Client(base_url=base), session="default", limit=1)
expect(nokey.status_code == 401 and isinstance(nokey.parsed, ErrorBody), "no key: a typed 401 ErrorBody")

# Wawp's dialect with its key in the query (the access_token scheme).
page = wawp_list_contacts.sync_detailed(client=Client(base_url=base), instance_id="default", limit=2)
expect(page.status_code == 401, "Wawp without access_token: 401")
with_token = Client(base_url=base, httpx_args={"params": {"access_token": key}})
page = wawp_list_contacts.sync(client=with_token, instance_id="default", limit=2)
# Wawp's contact id is an object (`{server, user, _serialized}`), as its contact page shows.
expect(
    isinstance(page, list) and [c.id.to_dict()["_serialized"] for c in page] == ids[:2],
    "Wawp with access_token: the same first page",
)
print("generated client: all checks passed")
