"""The street office's whole first vote, driven through the Python client generated from the
committed spec (openapi-python-client), against a running service in development mode:

platform staff onboard a street office; its first admin logs in, creates a residents'
committee and an estate, downloads the housing template, fills it with openpyxl and imports it;
an owner registers and verifies a flat with codes read from the development outbox; staff put a
matter to the vote; the owner votes online (and retries with the same Idempotency-Key), staff
enter a paper ballot for another flat; after the deadline staff close the matter and download
the ballot export, which must list both ballots.

Run by scripts/clients-test.sh with the generated package on PYTHONPATH and ZMG_BASE_URL,
ZMG_PLATFORM_USER, ZMG_PLATFORM_PASSWORD in the environment. Exits non-zero on the first
answer that is not the expected one.
"""

import datetime
import io
import os
import secrets
import sys
import time

import openpyxl
from zmg_client import AuthenticatedClient, Client
from zmg_client.api.attachments import attachment_upload
from zmg_client.api.dev import dev_sms_outbox_list
from zmg_client.api.estates import estate_create, rc_create
from zmg_client.api.housing import housing_import, housing_template_download, unit_search
from zmg_client.api.matters import (
    ballot_cast,
    ballot_enter_paper,
    ballot_export,
    ballot_list,
    matter_close,
    matter_create,
    matter_list,
    matter_tally,
)
from zmg_client.api.owners import owner_register, sms_code_send
from zmg_client.api.platform import platform_login, tenant_create
from zmg_client.api.staff import staff_login
from zmg_client.api.verification import verify_unit_confirm, verify_unit_send_code
from zmg_client.models import (
    AccountCodePurpose,
    AttachmentUploadBody,
    BallotChannel,
    CastInput,
    ChoiceInput,
    EstateInput,
    HousingImportBody,
    Importance,
    MatterInput,
    MatterSort,
    MatterStatus,
    PaperChannel,
    PaperInput,
    Purpose,
    RcInput,
    RegisterRequest,
    SmsCodeRequest,
    StaffLoginRequest,
    TenantCreateRequest,
    VerifyRequest,
)
from zmg_client.types import File

BASE = os.environ["ZMG_BASE_URL"]


def expect(response, status, what):
    """The parsed body of `response`, which must have answered `status`."""
    if response.status_code != status:
        sys.exit(f"{what}: expected {status}, got {response.status_code}: {response.content[:400]!r}")
    print(f"ok  {what}")
    return response.parsed


def latest_code(slug, phone):
    """The six digits of the last SMS the development outbox holds for `phone`."""
    messages = expect(
        dev_sms_outbox_list.sync_detailed(client=Client(BASE), x_tenant=slug, phone=phone),
        200,
        f"outbox of {phone}",
    )
    text = messages.items[0].content
    return next(text[i : i + 6] for i in range(len(text) - 5) if text[i : i + 6].isdigit())


def main():
    platform = Client(BASE)
    login = expect(
        platform_login.sync_detailed(
            client=platform,
            body=StaffLoginRequest(
                username=os.environ["ZMG_PLATFORM_USER"], password=os.environ["ZMG_PLATFORM_PASSWORD"]
            ),
        ),
        200,
        "platform staff log in",
    )
    platform = AuthenticatedClient(BASE, token=login.token)
    slug = "py" + secrets.token_hex(4)
    created = expect(
        tenant_create.sync_detailed(client=platform, body=TenantCreateRequest(slug=slug, name="Python 客户端街道")),
        201,
        f"onboard street office {slug}",
    )

    login = expect(
        staff_login.sync_detailed(
            client=Client(BASE),
            x_tenant=slug,
            body=StaffLoginRequest(username=created.admin.username, password=created.admin.initial_password),
        ),
        200,
        "street staff log in",
    )
    staff = AuthenticatedClient(BASE, token=login.token, headers={"X-Tenant": slug})
    rc = expect(rc_create.sync_detailed(client=staff, body=RcInput(name="示范居委会")), 201, "residents' committee")
    estate = expect(
        estate_create.sync_detailed(client=staff, body=EstateInput(name="示范花园", rc_id=rc.id)), 201, "estate"
    )

    template = expect(housing_template_download.sync_detailed(client=staff), 200, "housing template")
    book = openpyxl.load_workbook(io.BytesIO(template.payload.read()))
    sheet = book["房屋信息"]
    assert "填写说明" in book.sheetnames, "the instructions sheet is kept"
    owner_phone = "139" + str(secrets.randbelow(10**8)).zfill(8)
    rows = [
        ["1", "1", "101", "住宅", "89.55", "张三", owner_phone, "否"],
        ["1", "1", "102", "住宅", "120.10", "李四", "13800000102", "否"],
        ["1", "2", "201", "住宅", "75.00", "王五", "13800000201", "否"],
    ]
    for r, row in enumerate(rows, start=2):
        for c, value in enumerate(row, start=1):
            sheet.cell(row=r, column=c, value=value)
    filled = io.BytesIO()
    book.save(filled)
    filled.seek(0)
    imported = expect(
        housing_import.sync_detailed(
            estate.id, client=staff, body=HousingImportBody(file=File(payload=filled, file_name="房屋信息.xlsx"))
        ),
        200,
        "housing roll import",
    )
    assert imported.unit_count == 3, imported
    units = expect(unit_search.sync_detailed(client=staff, estate_id=estate.id), 200, "units").items
    by_room = {u.room: u for u in units}

    expect(
        sms_code_send.sync_detailed(
            client=Client(BASE),
            x_tenant=slug,
            body=SmsCodeRequest(phone=owner_phone, purpose=AccountCodePurpose.REGISTER),
        ),
        202,
        "registration code sent",
    )
    registered = expect(
        owner_register.sync_detailed(
            client=Client(BASE),
            x_tenant=slug,
            body=RegisterRequest(
                real_name="张三",
                phone=owner_phone,
                sms_code=latest_code(slug, owner_phone),
                password="Passw0rd!",
                accept_agreement=True,
            ),
        ),
        201,
        "owner registers",
    )
    owner = AuthenticatedClient(BASE, token=registered.token, headers={"X-Tenant": slug})
    unit = by_room["101"]
    expect(verify_unit_send_code.sync_detailed(unit.id, client=owner), 202, "verification code sent")
    expect(
        verify_unit_confirm.sync_detailed(
            unit.id, client=owner, body=VerifyRequest(sms_code=latest_code(slug, owner_phone))
        ),
        201,
        "owner verifies flat 1-1-101",
    )

    now = datetime.datetime.now(datetime.timezone.utc)
    closes = now + datetime.timedelta(seconds=12)
    matter = expect(
        matter_create.sync_detailed(
            client=staff,
            body=MatterInput(
                estate_id=estate.id,
                type_name="公共收益",
                title="是否更换电梯",
                content="详见公告",
                importance=Importance.IMPORTANT,
                law_item=4,
                opens_at=now - datetime.timedelta(seconds=1),
                closes_at=closes,
            ),
        ),
        201,
        "matter put to the vote",
    )
    key = secrets.token_hex(8)
    first = expect(
        ballot_cast.sync_detailed(matter.id, client=owner, body=CastInput(choice=ChoiceInput.AGREE), idempotency_key=key),
        201,
        "owner votes online",
    )
    again = ballot_cast.sync_detailed(
        matter.id, client=owner, body=CastInput(choice=ChoiceInput.AGREE), idempotency_key=key
    )
    assert again.status_code in (200, 201) and again.parsed.ballot_id == first.ballot_id, "a retry is the same ballot"
    print("ok  the retry with the same Idempotency-Key returned the same receipt")

    scan = expect(
        attachment_upload.sync_detailed(
            client=staff,
            body=AttachmentUploadBody(
                purpose=Purpose.DOCUMENT,
                file=File(payload=io.BytesIO(b"%PDF-1.4\n% paper ballot\n"), file_name="ballot.pdf"),
            ),
        ),
        201,
        "paper ballot scan uploaded",
    )
    expect(
        ballot_enter_paper.sync_detailed(
            matter.id,
            client=staff,
            body=PaperInput(
                unit_id=by_room["102"].id,
                choice=ChoiceInput.DISAGREE,
                channel=PaperChannel.PAPER,
                scan_attachment_id=scan.id,
            ),
            idempotency_key=secrets.token_hex(8),
        ),
        201,
        "paper ballot entered",
    )

    time.sleep(max(0.0, (closes - datetime.datetime.now(datetime.timezone.utc)).total_seconds()) + 1)
    closed = expect(matter_close.sync_detailed(matter.id, client=staff), 200, "matter closed")
    assert str(closed.status) == "closed", closed.status
    # The console's filters, through the generated enums.
    listed = expect(
        matter_list.sync_detailed(
            client=staff, status=MatterStatus.CLOSED, importance=Importance.IMPORTANT, sort=MatterSort.CLOSES_DESC
        ),
        200,
        "closed important matters listed",
    )
    assert listed.items and listed.items[0].id == matter.id, listed
    paper_only = expect(
        ballot_list.sync_detailed(matter.id, client=staff, channel=BallotChannel.PAPER, voided=False),
        200,
        "paper ballots listed",
    )
    assert paper_only.total == 1, paper_only
    print("ok  the console's filters find the closed matter and its one paper ballot")
    tally = expect(matter_tally.sync_detailed(matter.id, client=staff), 200, "tally")
    print(f"    tally: {tally.to_dict()}"[:300])

    export = expect(ballot_export.sync_detailed(matter.id, client=staff), 200, "ballot export")
    sheet = openpyxl.load_workbook(io.BytesIO(export.payload.read())).active
    ballots = [row for row in sheet.iter_rows(min_row=2, values_only=True) if any(row)]
    assert len(ballots) == 2, ballots
    print("ok  the export lists both ballots")
    print("python client flow: all steps passed")


if __name__ == "__main__":
    main()
