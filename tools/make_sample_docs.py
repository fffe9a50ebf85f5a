#!/usr/bin/env python3
"""Generate the demo corpus in ``sample_docs/`` for the offline RAG document assistant.

All content describes one imaginary organisation, *Halvorsen & Pike Engineering
Ltd* (a 140-person engineering consultancy with its head office in Bristol and a
second office in Leeds), and was written for this project.  Every supported
format is represented:

    acme_services_agreement.docx   employee_handbook.docx   travel_expense_policy.md
    incident_report_2026-03.pdf    price_list_2026.xlsx     office_locations.csv
    board_update.eml               q3_review.pptx           it_security_notes.txt
    intranet_faq.html              qa.jsonl (labelled question set)

Requirements (only for *regenerating* the files; the generated files are committed):

    pip install python-docx python-pptx openpyxl fpdf2

Usage:

    python tools/make_sample_docs.py [--out DIR]      # default: <repo>/sample_docs

The output is deterministic: there is no randomness, every date inside the files
is fixed, document core properties (author, created/modified dates) are pinned,
and Office ZIP containers are rewritten with fixed member timestamps, so running
the script twice produces byte-identical files.

qa.jsonl holds one JSON object per line:
    {"id", "question", "source", "page", "answer_patterns", "answerable"}
``page`` is the 1-based PDF page / PPTX slide holding the answer (null for formats
without pages); ``answer_patterns`` are case-insensitive regular expressions that
a correct answer matches (all of them).  Unanswerable questions have
``source``/``page`` null and an empty pattern list.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import re
import zipfile
from pathlib import Path

ORG = "Halvorsen & Pike Engineering Ltd"
DOMAIN = "halvorsenpike.example"
FIXED_ZIP_TIME = (2026, 1, 1, 0, 0, 0)

REPO_ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def _normalize_ooxml(path: Path, modified: dt.datetime) -> None:
    """Rewrite an OOXML zip with fixed member timestamps and a fixed modified date.

    python-docx/python-pptx/openpyxl stamp ZIP members with the current time and
    openpyxl overwrites ``dcterms:modified`` on save; this makes output stable.
    """
    stamp = modified.strftime("%Y-%m-%dT%H:%M:%SZ")
    with zipfile.ZipFile(path) as zin:
        members = [(info.filename, zin.read(info.filename)) for info in zin.infolist()]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zout:
        for name, data in members:
            if name == "docProps/core.xml":
                text = data.decode("utf-8")
                text = re.sub(
                    r"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                    rf"\g<1>{stamp}\g<2>",
                    text,
                )
                data = text.encode("utf-8")
            info = zipfile.ZipInfo(name, date_time=FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zout.writestr(info, data)


def _set_office_core(props, title: str, subject: str, author: str,
                     created: dt.datetime, keywords: str = "") -> None:
    props.title = title
    props.subject = subject
    props.author = author
    props.last_modified_by = author
    props.keywords = keywords
    props.comments = "Demo document for the offline document assistant (fictional organisation)."
    props.created = created
    props.modified = created
    props.revision = 1
    try:
        props.last_printed = created
    except (AttributeError, ValueError):  # pragma: no cover - library differences
        pass


# ---------------------------------------------------------------------------
# 1. acme_services_agreement.docx
# ---------------------------------------------------------------------------

def make_contract(out: Path) -> None:
    from docx import Document
    from docx.shared import Pt

    doc = Document()
    style = doc.styles["Normal"]
    style.font.name = "Calibri"
    style.font.size = Pt(11)

    doc.add_heading("Master Services Agreement", level=0)
    doc.add_paragraph(
        "Agreement reference: HP-ACM-2026-014\n"
        "Date of this Agreement: 16 February 2026\n"
        f"Between {ORG} and Acme Logistics plc"
    )

    def clause(heading: str, paragraphs: list[str]) -> None:
        doc.add_heading(heading, level=1)
        for p in paragraphs:
            doc.add_paragraph(p)

    clause("1. Parties", [
        f"1.1 {ORG}, a company registered in England and Wales under company number "
        "07421186, whose registered office is at 3rd Floor, Harbourside House, 41 Anchor Road, "
        "Bristol BS1 5TT (the \"Consultant\").",
        "1.2 Acme Logistics plc, a company registered in England and Wales under company number "
        "03358921, whose registered office is at Acme House, Brackmills Industrial Estate, "
        "Northampton NN4 7PB (the \"Client\").",
        "1.3 The Consultant and the Client are together the \"Parties\" and each a \"Party\".",
    ])

    clause("2. Background and Services", [
        "2.1 The Client operates a portfolio of 27 distribution centres in Great Britain. The Client "
        "wishes to appoint the Consultant to provide structural engineering, asset condition survey "
        "and geotechnical advisory services across that portfolio.",
        "2.2 The Consultant shall provide the services described in Schedule 1 (the \"Services\") "
        "with the reasonable skill, care and diligence to be expected of a competent consulting "
        "engineer experienced in projects of similar size and complexity.",
        "2.3 Each survey or design package shall be instructed by a written work order issued by the "
        "Client's Head of Property, Daniel Whitcombe, or his nominated deputy. The Consultant's "
        "account lead is Helen Marsh, Director of Infrastructure, based in the Consultant's Bristol office.",
    ])

    clause("3. Term", [
        "3.1 This Agreement commences on 1 March 2026 (the \"Commencement Date\") and shall continue "
        "for a fixed initial term of 24 months, ending on 28 February 2028, unless terminated earlier "
        "in accordance with clause 6.",
        "3.2 The Parties may extend this Agreement by one further period of 12 months by mutual "
        "written agreement signed no later than three months before the end of the initial term.",
    ])

    clause("4. Fees and Payment", [
        "4.1 The Client shall pay a fixed monthly retainer of £18,500 (excluding VAT) covering "
        "programme management, quarterly portfolio reporting and up to four site days per month.",
        "4.2 Work instructed in addition to the retainer shall be charged at the rates in the "
        "Consultant's 2026 Price List less a negotiated discount of 7.5%.",
        "4.3 The Consultant shall invoice monthly in arrears. The Client shall pay each undisputed "
        "invoice within 30 days of the date of receipt. Late payments bear interest at 4% per year "
        "above the Bank of England base rate.",
        "4.4 Rates are fixed for the first 12 months. On 1 March 2027 rates may be increased by no "
        "more than the annual change in the Consumer Prices Index (CPI) for the preceding January.",
        "4.5 Reasonable travel and subsistence expenses incurred at the Client's request are "
        "rechargeable at cost, supported by receipts.",
    ])

    clause("5. Client Obligations", [
        "5.1 The Client shall provide safe access to each site, copies of existing drawings and "
        "maintenance records, and a named site contact for every visit.",
        "5.2 The Client shall give the Consultant at least five working days' notice of any site "
        "visit request that is not included in the agreed monthly programme.",
    ])

    clause("6. Termination", [
        "6.1 Termination without cause: either Party may terminate this Agreement at any time "
        "without giving a reason by giving the other Party not less than 60 days' written notice.",
        "6.2 Termination for cause: either Party may terminate this Agreement immediately by written "
        "notice if the other Party commits a material breach which is not remedied within 21 days of "
        "a written request to do so, or if the other Party becomes insolvent or enters administration.",
        "6.3 On termination the Client shall pay for all Services performed up to the termination "
        "date, and the Consultant shall deliver all completed and partly completed reports.",
    ])

    clause("7. Confidentiality", [
        "7.1 Each Party shall keep confidential all information disclosed by the other Party in "
        "connection with this Agreement, including site security arrangements, commercial terms and "
        "pricing, and shall use it only for the purpose of this Agreement.",
        "7.2 The obligations in this clause survive for five years after expiry or termination of "
        "this Agreement.",
        "7.3 Clause 7.1 does not apply to information that is public knowledge, that the receiving "
        "Party already lawfully held, or that must be disclosed by law or by a regulator.",
    ])

    clause("8. Liability and Insurance", [
        "8.1 The Consultant's total aggregate liability arising out of or in connection with this "
        "Agreement, whether in contract, tort (including negligence) or otherwise, is capped at "
        "£2,500,000 (two million five hundred thousand pounds).",
        "8.2 Neither Party is liable for loss of profit, loss of business or any indirect or "
        "consequential loss.",
        "8.3 Nothing in this Agreement limits liability for death or personal injury caused by "
        "negligence, or for fraud.",
        "8.4 The Consultant shall maintain professional indemnity insurance of not less than "
        "£5,000,000 for each claim for the duration of this Agreement and for six years afterwards.",
    ])

    clause("9. Data Protection", [
        "9.1 Each Party shall comply with the UK GDPR and the Data Protection Act 2018. Personal data "
        "shared under this Agreement is limited to the business contact details of site staff.",
    ])

    clause("10. Governing Law and Disputes", [
        "10.1 This Agreement and any dispute arising from it are governed by the law of England and "
        "Wales, and the courts of England and Wales have exclusive jurisdiction.",
        "10.2 Before starting proceedings, the Parties shall refer any dispute to their senior "
        "executives, who shall meet within 14 days. If the dispute is not resolved, the Parties shall "
        "attempt mediation before issuing a claim.",
    ])

    doc.add_heading("Schedule 1: Services", level=1)
    table = doc.add_table(rows=1, cols=3)
    table.style = "Table Grid"
    hdr = table.rows[0].cells
    hdr[0].text, hdr[1].text, hdr[2].text = "Item", "Service", "Deliverable"
    for row in [
        ("S1", "Structural condition survey of each distribution centre", "Condition report with RAG-rated defects"),
        ("S2", "Racking and mezzanine load assessment", "Load notice and calculation package"),
        ("S3", "Geotechnical desk study for planned extensions", "Phase 1 desk study report"),
        ("S4", "Quarterly portfolio reporting", "Dashboard and review meeting"),
    ]:
        cells = table.add_row().cells
        for c, v in zip(cells, row):
            c.text = v

    doc.add_heading("Signatures", level=1)
    doc.add_paragraph(
        f"Signed for and on behalf of {ORG}: Ingrid Halvorsen, Chief Executive, 16 February 2026."
    )
    doc.add_paragraph(
        "Signed for and on behalf of Acme Logistics plc: Catherine Doyle, Chief Operating Officer, "
        "16 February 2026."
    )

    created = dt.datetime(2026, 2, 16, 9, 0, 0)
    _set_office_core(doc.core_properties, "Master Services Agreement - Acme Logistics plc",
                     "Services contract HP-ACM-2026-014", "Helen Marsh", created,
                     "contract; Acme Logistics; services agreement")
    path = out / "acme_services_agreement.docx"
    doc.save(path)
    _normalize_ooxml(path, created)


# ---------------------------------------------------------------------------
# 2. employee_handbook.docx
# ---------------------------------------------------------------------------

def make_handbook(out: Path) -> None:
    from docx import Document
    from docx.shared import Pt

    doc = Document()
    doc.styles["Normal"].font.name = "Calibri"
    doc.styles["Normal"].font.size = Pt(11)

    doc.add_heading("Employee Handbook", level=0)
    doc.add_paragraph(
        f"{ORG} - Version 4.2, effective 1 January 2026. Owner: People Team "
        "(Sophie Kendrick, HR Director). This handbook applies to all employees in the Bristol and "
        "Leeds offices. Where it conflicts with your contract of employment, your contract prevails."
    )

    def section(heading: str, paragraphs: list[str], bullets: list[str] | None = None) -> None:
        doc.add_heading(heading, level=1)
        for p in paragraphs:
            doc.add_paragraph(p)
        for b in bullets or []:
            doc.add_paragraph(b, style="List Bullet")

    section("1. Working Hours", [
        "Standard working hours are 37.5 hours per week. We operate flexitime with core hours of "
        "09:30 to 15:30, Monday to Friday, during which everyone is expected to be available. "
        "Record your time on project codes in PeopleHub timesheets by 12:00 every Monday for the "
        "previous week.",
    ])

    section("2. Annual Leave", [
        "Full-time employees are entitled to 25 days of paid annual leave per leave year, plus the "
        "eight UK bank holidays. Part-time entitlement is calculated pro rata. The leave year runs "
        "from 1 January to 31 December.",
        "After five years of continuous service you receive one additional day of leave per year of "
        "further service, up to a maximum of 28 days.",
    ], [
        "Book leave in PeopleHub. Requests for more than three consecutive working days need at "
        "least two weeks' notice and your line manager's approval.",
        "You may carry over a maximum of 5 days of unused annual leave into the next leave year. "
        "Carried-over days must be taken by 31 March, otherwise they are lost.",
        "Leave is not normally paid in lieu, except on leaving the company.",
    ])

    section("3. Remote and Hybrid Working", [
        "We support hybrid working. Employees may work remotely for up to 3 days per week, agreed "
        "with their line manager, and are expected in the office for at least two days each week. "
        "Wednesday is our team day, when every team meets in the office.",
        "Remote work must be done from a location in the UK. Working from abroad for more than ten "
        "working days in a year needs written approval from the People Team because of tax and "
        "insurance implications.",
        "New starters are given a one-off home office allowance of £300 for a chair, monitor or desk "
        "accessories. Company laptops must be used in line with the IT security rules.",
    ])

    section("4. Sickness Absence", [
        "If you are unwell and cannot work, telephone your line manager (a text or chat message is "
        "not enough) by 10:00 on the first day of absence, and keep them updated on each following "
        "day unless agreed otherwise.",
        "You can self-certify for up to seven calendar days. From the eighth calendar day you need a "
        "fit note from your GP or hospital. Record every absence in PeopleHub on your return.",
        "Company sick pay: during your first year of service you receive full pay for up to 10 working "
        "days in any rolling 12-month period; after one year this rises to 20 working days. After "
        "that, Statutory Sick Pay applies.",
    ])

    section("5. Parental Leave", [
        "Maternity and adoption leave: eligible employees may take up to 52 weeks. After 26 weeks' "
        "service, the company pays 16 weeks at full pay followed by 23 weeks at Statutory Maternity "
        "or Adoption Pay.",
        "Paternity and partner leave: 4 weeks at full pay, to be taken within 26 weeks of the birth "
        "or placement.",
        "Shared parental leave is paid at the same enhanced rate as maternity leave, up to the same "
        "total. Unpaid parental leave of up to 18 weeks per child may be taken before the child's "
        "18th birthday, in blocks of at least one week.",
    ])

    section("6. Code of Conduct", [
        "We expect professional, respectful behaviour towards colleagues, clients and the public, "
        "on site and online. Harassment, bullying and discrimination of any kind are not tolerated "
        "and will be treated as gross misconduct.",
    ], [
        "Gifts and hospitality: you may accept modest gifts, but any gift or hospitality worth more "
        "than £50 must be recorded in the gifts and hospitality register within five working days.",
        "Anti-bribery: never offer or accept payments to win or keep work. Report concerns to the "
        "Compliance Officer.",
        "Conflicts of interest: declare any personal or financial interest in a client, supplier or "
        "competitor to your line manager in writing.",
        "Health and safety: wear the correct PPE on site and complete the site induction before "
        "starting work. Stop work if you think a situation is unsafe.",
        "Whistleblowing: you can raise concerns in confidence at ethics@halvorsenpike.example. "
        "Nobody will suffer a detriment for raising a genuine concern.",
    ])

    section("7. Leaving the Company", [
        "The notice period for resignation is one month for employees up to and including Senior "
        "Engineer grade, and three months for Principal Engineers, Associate Directors and "
        "Directors. Return your laptop, ID badge and any site PPE on your last working day.",
    ])

    created = dt.datetime(2025, 12, 15, 9, 0, 0)
    _set_office_core(doc.core_properties, "Employee Handbook v4.2", "HR policies",
                     "Sophie Kendrick", created, "handbook; HR; leave; conduct")
    path = out / "employee_handbook.docx"
    doc.save(path)
    _normalize_ooxml(path, created)


# ---------------------------------------------------------------------------
# 3. travel_expense_policy.md
# ---------------------------------------------------------------------------

TRAVEL_MD = f"""# Travel and Expenses Policy

**{ORG}** - Policy FIN-03, version 3.1, effective 1 February 2026.
Owner: Finance (Owen Pritchard, Finance Director). Applies to all employees and contractors
travelling on company or client business from the Bristol and Leeds offices.

## 1. Principles

- Spend company and client money as if it were your own: choose the most economical option
  that gets the job done safely.
- Where travel is rechargeable to a client, always use the project number on the claim so
  Finance can invoice the cost.
- Book rail, flights and hotels through the travel desk (Clarity Travel) unless a cheaper
  fare is available elsewhere for the same journey.

## 2. Daily allowances (per diem)

A per diem covers meals and incidental costs on trips that include an overnight stay.
No receipts are needed for the per diem itself.

- **UK trips:** £45 per day.
- **Trips abroad:** £70 per day.
- Day trips without an overnight stay of more than 5 hours away from your normal office may
  claim actual meal costs up to £15, with a receipt.
- Do not claim the per diem for days when the client or a conference provides your meals.

## 3. Mileage

If you use your own car for business travel you can claim **45p per mile** for the first
10,000 business miles in a tax year and 25p per mile after that. Add 5p per mile for each
colleague you carry as a passenger. The normal commute between home and your office is not
business mileage. Electric cars are reimbursed at the same rates.

## 4. Rail and air travel

- Rail: standard class. First class is allowed only when it is cheaper than standard class
  for the same journey.
- Flights: economy class by default. **Business class is allowed only for flights with a
  scheduled duration of over 6 hours**, and needs Director approval before booking.
- Book flights at least 14 days ahead where possible.

## 5. Hotels

Book hotels through the travel desk. The maximum room rates per night, including breakfast
and excluding VAT, are:

| Location            | Maximum per night |
|---------------------|-------------------|
| London              | £160              |
| Rest of the UK      | £110              |
| Outside the UK      | £180              |

If no room is available within the cap, ask your budget holder to approve the higher rate
in writing before you book.

## 6. Claims and receipts

- Submit claims in ExpenseFlow with an itemised receipt for every item **within 30 days** of
  the date you incurred the expense.
- Claims submitted more than 90 days after the expense will not be paid.
- Alcohol is not reimbursed, except as part of approved client entertaining.
- Lost receipts: complete a missing receipt declaration; no more than two per year.

## 7. Approval thresholds

| Total value of claim or booking | Who approves                    |
|---------------------------------|---------------------------------|
| Up to £250                      | Line manager                    |
| £250 to £1,000                  | Budget holder (Associate Director) |
| £1,000 to £5,000                | Finance Director                |
| Over £5,000                     | Chief Executive                 |

## 8. Company cards

Company credit cards are issued to Directors and to staff who travel more than twice a
month. Card statements must be reconciled in ExpenseFlow by the 5th working day of each month.
"""


def make_travel(out: Path) -> None:
    (out / "travel_expense_policy.md").write_text(TRAVEL_MD, encoding="utf-8")


# ---------------------------------------------------------------------------
# 4. incident_report_2026-03.pdf
# ---------------------------------------------------------------------------

def make_incident_pdf(out: Path) -> None:
    from fpdf import FPDF

    class Report(FPDF):
        def header(self) -> None:
            self.set_font("Helvetica", "B", 9)
            self.set_text_color(90, 90, 90)
            self.cell(0, 6, "Halvorsen & Pike Engineering Ltd - IT Operations - CONFIDENTIAL",
                      new_x="LMARGIN", new_y="NEXT")
            self.ln(2)
            self.set_text_color(0, 0, 0)

        def footer(self) -> None:
            self.set_y(-15)
            self.set_font("Helvetica", "", 8)
            self.set_text_color(90, 90, 90)
            self.cell(0, 8, f"Incident report IR-2026-007 - Page {self.page_no()} of {{nb}}",
                      align="C")

    pdf = Report(format="A4")
    pdf.set_creation_date(dt.datetime(2026, 4, 3, 12, 0, 0, tzinfo=dt.timezone.utc))
    pdf.set_title("Incident report IR-2026-007: Leeds server room cooling failure")
    pdf.set_author("Priya Nandakumar")
    pdf.set_subject("Major incident report, March 2026")
    pdf.set_creator("make_sample_docs.py")
    pdf.set_producer("fpdf2")
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.set_margins(20, 15, 20)

    def h1(text: str) -> None:
        pdf.set_font("Helvetica", "B", 16)
        pdf.multi_cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)

    def h2(text: str) -> None:
        pdf.set_font("Helvetica", "B", 12)
        pdf.multi_cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)

    def para(text: str) -> None:
        pdf.set_font("Helvetica", "", 10.5)
        pdf.multi_cell(0, 5.5, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)

    def table(rows: list[tuple[str, ...]], widths: tuple[int, ...]) -> None:
        pdf.set_font("Helvetica", "", 9.5)
        with pdf.table(col_widths=widths, text_align="LEFT", line_height=5) as t:
            for r in rows:
                row = t.row()
                for v in r:
                    row.cell(v)
        pdf.ln(3)

    # ---- Page 1: summary -------------------------------------------------
    pdf.add_page()
    h1("Major Incident Report IR-2026-007\nServer room cooling failure, Leeds office")
    table([
        ("Field", "Detail"),
        ("Incident reference", "IR-2026-007"),
        ("Date of incident", "14 March 2026"),
        ("Location", "Leeds office server room (Room G.14), Wellington Court, Leeds"),
        ("Severity", "P1 - Major (multiple business services unavailable)"),
        ("Report author", "Priya Nandakumar, IT Operations Manager"),
        ("Incident manager", "Marcus Webb, Head of IT"),
        ("Report status", "Final - incident closed on 2 April 2026"),
        ("Report date", "3 April 2026"),
    ], (45, 125))
    h2("1. Summary")
    para("On 14 March 2026 the air-conditioning that cools the server room in the Leeds office "
         "failed. As the room temperature rose, the storage array and the virtual host servers in "
         "the room shut themselves down to protect their hardware. This took several company-wide "
         "services offline until temporary cooling was in place and the equipment could be "
         "restarted safely.")
    para("Services hosted in the Leeds server room at the time of the incident: the Leeds project "
         "file server, the company VPN gateway, the BIM software licence server and the external "
         "client portal used by clients to download reports and drawings. Services hosted in "
         "Bristol and in Microsoft 365 (email, Teams, SharePoint) were not affected.")
    para("No data was lost. All backups completed normally on the following night. No personal "
         "data was exposed, so the incident was not reportable to the Information Commissioner's "
         "Office. The detailed timeline is in section 2 and the root cause and corrective actions "
         "are in section 3.")
    assert pdf.page_no() == 1, "page 1 content overflowed"

    # ---- Page 2: timeline -------------------------------------------------
    pdf.add_page()
    h2("2. Timeline and impact")
    para("All times are local time (GMT). Times are taken from the building management system, "
         "the monitoring platform and the on-call engineer's log.")
    table([
        ("Time", "Event"),
        ("06:52", "Monitoring raises a temperature warning: server room inlet air at 27 deg C "
                  "(normal 21-23 deg C). The warning is sent by email only."),
        ("07:20", "Inlet temperature reaches 33 deg C. Critical alert pages the on-call engineer, "
                  "Jamie Fletcher."),
        ("07:35", "On-call engineer confirms both air-conditioning units are not cooling; starts "
                  "graceful shutdown of non-essential virtual machines."),
        ("07:48", "Storage array performs an automatic thermal shutdown. OUTAGE STARTS: file "
                  "server, VPN, licence server and client portal unavailable."),
        ("08:10", "Major incident declared by Marcus Webb. Staff notified by SMS and Teams."),
        ("08:30", "Server room doors opened and fans deployed; peak temperature of 41 deg C "
                  "recorded at 08:05 begins to fall."),
        ("10:15", "Two portable cooling units hired from CoolHire Yorkshire arrive and are "
                  "running by 10:40."),
        ("11:05", "Temperature stable at 24 deg C; storage array powered on and checked."),
        ("11:28", "All services restored and verified. OUTAGE ENDS."),
        ("12:00", "Incident moved to monitoring; portable cooling kept in place for 9 days."),
    ], (22, 148))
    h2("Impact")
    para("Total outage duration: 3 h 40 min (220 minutes), from 07:48 to 11:28.")
    para("Users affected: 212 user accounts could not reach one or more services during the "
         "outage - 138 staff accounts (Leeds and Bristol staff using the VPN, file server or BIM "
         "licences) and 74 external client-portal users. Two client report deadlines were moved by "
         "one working day with the clients' agreement.")
    assert pdf.page_no() == 2, "page 2 content overflowed"

    # ---- Page 3: root cause and corrective actions ------------------------
    pdf.add_page()
    h2("3. Root cause")
    para("The server room is cooled by two computer-room air-conditioning (CRAC) units. The root "
         "cause of the incident was a failed compressor in CRAC unit 2: the compressor's motor "
         "bearing seized at about 06:40, so the unit kept blowing air but stopped cooling it. The "
         "engineer's inspection on 16 March confirmed the seized bearing.")
    para("Contributing factors: (a) CRAC unit 1 had been switched off on 13 March for planned "
         "maintenance, so the room had no cooling redundancy at the time; (b) the first "
         "temperature warning was sent by email only and nobody read it until the critical page "
         "28 minutes later; (c) the cooling maintenance contract provides only one service visit "
         "a year and does not include a response time for failures.")
    h2("4. Corrective actions")
    table([
        ("Ref", "Action", "Owner", "Due date", "Status"),
        ("CA-1", "Replace the compressor in CRAC unit 2 and test both units under load",
         "Ravi Chaudhry", "31 March 2026", "Done"),
        ("CA-2", "Change the 27 deg C temperature warning so it pages the on-call engineer, "
                 "not email only", "Priya Nandakumar", "10 April 2026", "Done"),
        ("CA-3", "Hire temporary cooling before any planned maintenance that takes a CRAC "
                 "unit offline", "Ravi Chaudhry", "30 April 2026", "Open"),
        ("CA-4", "Move the client portal and VPN gateway out of the Leeds server room to "
                 "cloud hosting with failover to Bristol", "Marcus Webb", "30 June 2026", "Open"),
        ("CA-5", "Renegotiate the cooling maintenance contract: quarterly visits and a 4-hour "
                 "response time", "Owen Pritchard", "31 May 2026", "Open"),
    ], (14, 78, 30, 28, 20))
    assert pdf.page_no() == 3, "page 3 content overflowed"

    # ---- Page 4: cost and lessons ----------------------------------------
    pdf.add_page()
    h2("5. Cost of the incident")
    table([
        ("Item", "Cost (GBP)"),
        ("Portable cooling hire (9 days, two units)", "2,150"),
        ("Replacement compressor, parts and labour", "9,800"),
        ("Emergency call-out and weekend overtime", "1,350"),
        ("Estimated lost billable time", "5,100"),
        ("Estimated total cost", "18,400"),
    ], (120, 50))
    h2("6. Lessons learned")
    para("What went well: the on-call engineer shut down non-essential systems early, which "
         "protected the hardware; backups and the Microsoft 365 services were unaffected; staff "
         "communication by SMS and Teams worked.")
    para("What did not go well: a single room held several services that many users depend on; "
         "maintenance was planned without temporary cooling; and a warning that should have been "
         "urgent went to an unmonitored mailbox.")
    h2("7. Approval")
    para("Reviewed and approved by Marcus Webb, Head of IT, and Owen Pritchard, Finance Director, "
         "on 3 April 2026. Next review of open actions: IT steering group, 5 May 2026.")
    assert pdf.page_no() == 4, "page 4 content overflowed"

    pdf.output(str(out / "incident_report_2026-03.pdf"))


# ---------------------------------------------------------------------------
# 5. price_list_2026.xlsx
# ---------------------------------------------------------------------------

PRICE_ROWS: list[tuple[str, str, str, float, str]] = [
    ("SE-101", "Structural survey", "per day", 950, "Minimum charge half a day"),
    ("SE-102", "Structural calculation package (small works)", "per package", 1450, "Up to 10 members"),
    ("SE-103", "Temporary works design", "per day", 880, ""),
    ("SE-104", "Steel connection design", "per connection type", 320, ""),
    ("SE-105", "Structural inspection report", "per report", 650, "Includes one site visit"),
    ("SE-106", "Warehouse condition survey (up to 10,000 m2)", "per building", 2400, "Larger buildings quoted"),
    ("SE-107", "Racking and mezzanine load assessment", "per building", 1250, ""),
    ("CE-201", "Drainage design", "per day", 820, ""),
    ("CE-202", "Flood risk assessment", "per report", 2950, "Excludes hydraulic modelling"),
    ("CE-203", "Highways section 278 design", "per day", 900, ""),
    ("CE-204", "Sustainable drainage (SuDS) strategy", "per report", 1800, ""),
    ("CE-205", "Utilities coordination", "per day", 760, ""),
    ("GE-301", "Geotechnical desk study (Phase 1)", "per report", 1250, ""),
    ("GE-302", "Trial pit supervision", "per day", 720, "Excavator hire not included"),
    ("GE-303", "Borehole logging", "per day", 760, ""),
    ("GE-304", "Geotechnical interpretive report", "per report", 3400, ""),
    ("GE-305", "Contamination testing suite", "per sample", 185, "Accredited external laboratory"),
    ("BS-401", "Building services feasibility study", "per report", 2200, ""),
    ("BS-402", "Energy model (SAP/SBEM)", "per building", 1100, ""),
    ("BS-403", "Thermal imaging survey", "per day", 690, "Best carried out October to March"),
    ("DR-501", "CAD drafting technician", "per hour", 58, ""),
    ("DR-502", "BIM modelling (Revit)", "per hour", 72, ""),
    ("DR-503", "Point cloud to BIM conversion", "per 1,000 m2", 1350, ""),
    ("DR-504", "Drone photogrammetry survey", "per day", 1150, "CAA-certified pilot; weather dependent"),
    ("PM-601", "Project manager", "per day", 840, ""),
    ("PM-602", "CDM Principal Designer service", "per month", 1600, ""),
    ("PM-603", "Site meeting attendance", "per half day", 420, ""),
    ("EX-701", "Expert witness report", "per hour", 195, ""),
    ("EX-702", "Court or tribunal attendance", "per day", 1750, ""),
    ("ST-801", "Director", "per hour", 165, "Staff rate for work not listed above"),
    ("ST-802", "Associate Director", "per hour", 138, "Staff rate for work not listed above"),
    ("ST-803", "Principal Engineer", "per hour", 118, "Staff rate for work not listed above"),
    ("ST-804", "Senior Engineer", "per hour", 96, "Staff rate for work not listed above"),
    ("ST-805", "Engineer", "per hour", 78, "Staff rate for work not listed above"),
    ("ST-806", "Graduate Engineer", "per hour", 62, "Staff rate for work not listed above"),
    ("LB-901", "Concrete core testing (laboratory)", "per core", 145, "Avonmouth laboratory"),
    ("LB-902", "Steel tensile test (laboratory)", "per specimen", 95, "Avonmouth laboratory"),
    ("TR-951", "Vehicle travel beyond 50 miles from office", "per mile", 0.55, "Charged to client"),
    ("TR-952", "Out-of-hours or weekend working uplift", "per hour", 40, "Added to the hourly rate"),
]

DISCOUNT_ROWS: list[tuple[str, int, int | None, str, str]] = [
    ("Tier 1", 0, 24999, "0%", "List prices"),
    ("Tier 2", 25000, 99999, "5%", "Applied to invoices from the month the threshold is reached"),
    ("Tier 3", 100000, 249999, "7.5%", "Requires a signed framework or services agreement"),
    ("Tier 4", 250000, None, "10%", "Approved by a Director; reviewed annually"),
]


def make_price_list(out: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    wb = Workbook()
    ws = wb.active
    ws.title = "Price list 2026"
    header = ("Service code", "Service", "Unit", "Price GBP", "Notes")
    ws.append(header)
    for row in PRICE_ROWS:
        ws.append(row)
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDE6F0")
    for cell in ws[1]:
        cell.font = bold
        cell.fill = fill
    for r in range(2, ws.max_row + 1):
        ws.cell(row=r, column=4).number_format = "#,##0.00"
    for col, width in zip("ABCDE", (13, 46, 20, 12, 42)):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "A2"

    ds = wb.create_sheet("Discounts")
    ds.append(("Tier", "Annual spend from (GBP)", "Annual spend to (GBP)", "Discount", "Notes"))
    for tier, lo, hi, disc, note in DISCOUNT_ROWS:
        ds.append((tier, lo, hi if hi is not None else "and above", disc, note))
    for cell in ds[1]:
        cell.font = bold
        cell.fill = fill
    for r in range(2, ds.max_row + 1):
        for c in (2, 3):
            if isinstance(ds.cell(row=r, column=c).value, int):
                ds.cell(row=r, column=c).number_format = "#,##0"
    for col, width in zip("ABCDE", (10, 24, 24, 10, 58)):
        ds.column_dimensions[col].width = width

    created = dt.datetime(2026, 1, 5, 9, 0, 0)
    p = wb.properties
    p.creator = "Owen Pritchard"
    p.lastModifiedBy = "Owen Pritchard"
    p.title = "Price list 2026"
    p.subject = "Standard rates for 2026"
    p.created = created
    p.modified = created
    path = out / "price_list_2026.xlsx"
    wb.save(path)
    _normalize_ooxml(path, created)


# ---------------------------------------------------------------------------
# 6. office_locations.csv
# ---------------------------------------------------------------------------

OFFICE_ROWS = [
    ("Bristol (head office)", "3rd Floor, Harbourside House, 41 Anchor Road, Bristol BS1 5TT",
     "0117 496 0350", 84, "Gemma Okafor"),
    ("Bristol - Avonmouth materials laboratory", "Unit 7, Kings Weston Lane Trading Estate, "
     "Avonmouth, Bristol BS11 8AZ", "0117 496 0815", 9, "Tom Ellery"),
    ("Leeds", "Floor 2, Wellington Court, 18 Wellington Street, Leeds LS1 4DL",
     "0113 496 0720", 41, "Ravi Chaudhry"),
    ("Leeds - Kirkstall Forge site office (temporary, until Dec 2026)",
     "Cabin 3, Kirkstall Forge, Abbey Road, Leeds LS5 3NF", "0113 496 0944", 6, "Ravi Chaudhry"),
]


def make_offices(out: Path) -> None:
    with open(out / "office_locations.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(("office", "address", "phone", "head count", "facilities manager"))
        w.writerows(OFFICE_ROWS)


# ---------------------------------------------------------------------------
# 7. board_update.eml
# ---------------------------------------------------------------------------

EML_BODY = """Dear all,

Ahead of our board meeting on Thursday 22 October, here is a short summary of our
Q3 results (July to September 2026) and a record of the Manchester decision.

Q3 2026 financials (management accounts, unaudited)
- Revenue: £4.2m, up 9% on Q3 2025 (£3.85m) and 3% ahead of budget.
- Gross margin: 38.6% (Q2: 37.1%).
- EBITDA: £590k, or 14.0% of revenue.
- Cash at 30 September: £2.31m. We have not drawn on the £750k overdraft facility.
- Order book: £11.8m, of which £6.9m is scheduled for delivery in the next 12 months.
- Debtor days: 58 against a target of 45. Owen will take you through the aged debt
  position and the actions we are taking on the two largest overdue accounts.

Decision: Manchester office
Following the board's approval by written resolution on 2 October, we will open a
third office in Manchester in January 2027, with a target opening date of Monday
11 January 2027. We have signed heads of terms for 2,400 sq ft on the fourth floor of
Tariff Street Works, Manchester M1 2FF, on a five-year lease with a tenant break at
year three. Annual rent is £62,400 and the approved fit-out budget is £180,000.

The office will be led by Tomasz Brennan (currently Associate Director, Leeds). The
initial team will be eight people: five moving from Leeds and three new appointments.
The business case expects the office to break even in its second year, mainly from
water-sector and North West housing work that we currently lose on travel time.

Other items
- ISO 9001 surveillance audit passed on 17 September with no major non-conformities.
- Acme Logistics programme is on track; Rachel will cover delivery in her operations
  review.
- Professional indemnity insurance renewed on 1 October at a 4% premium increase.

The full board pack will follow on Monday 19 October. Please send me any questions
before then.

Kind regards,
Ingrid

Ingrid Halvorsen
Chief Executive
Halvorsen & Pike Engineering Ltd
"""


def make_eml(out: Path) -> None:
    headers = [
        ("From", "Ingrid Halvorsen <ingrid.halvorsen@halvorsenpike.example>"),
        ("To", "Board of Directors <board@halvorsenpike.example>"),
        ("Cc", "Owen Pritchard <owen.pritchard@halvorsenpike.example>"),
        ("Subject", "Q3 2026 results and decision on the Manchester office"),
        ("Date", "Fri, 09 Oct 2026 17:42:00 +0100"),
        ("Message-ID", "<20261009174200.q3board@halvorsenpike.example>"),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=\"utf-8\""),
        ("Content-Transfer-Encoding", "8bit"),
    ]
    text = "".join(f"{k}: {v}\n" for k, v in headers) + "\n" + EML_BODY
    (out / "board_update.eml").write_bytes(text.encode("utf-8"))


# ---------------------------------------------------------------------------
# 8. q3_review.pptx
# ---------------------------------------------------------------------------

SLIDES: list[tuple[str, list[str]]] = [
    ("Q3 2026 at a glance", [
        "37 projects delivered in the quarter (Bristol 24, Leeds 13)",
        "6 new clients won, including two water-sector framework call-offs",
        "Safety: zero RIDDOR-reportable incidents; 2 near misses investigated",
        "Client satisfaction (NPS): 61, up from 54 in Q2",
        "Acme Logistics programme: 11 of 27 distribution-centre surveys complete",
    ]),
    ("Utilisation", [
        "Billable utilisation for the quarter: 78% (target 75%; Q2 was 73%)",
        "Bristol 80%, Leeds 74%",
        "Geotechnical team at 86% - sustained overload, risk to quality and wellbeing",
        "Graduate engineers at 64% - more site exposure needed",
        "Action: move two drainage engineers onto geotechnical reporting in Q4",
    ]),
    ("Top client risks", [
        "Concentration: Acme Logistics now 19% of fee income - single-client dependency",
        "Northgate Homes: £186k overdue by more than 90 days; account on credit hold from 1 October",
        "Severn Water framework (about £1.1m a year) is re-tendered in February 2027",
        "Kirkstall Forge: three unapproved variations worth £64k - scope creep",
        "Mitigation owners: account directors to report monthly to the executive team",
    ]),
    ("Hiring plan to March 2027", [
        "Recruit 12 engineers by 31 March 2027: 7 in Bristol and 5 in Leeds",
        "Mix: 4 structural, 3 civil and drainage, 2 geotechnical, 3 graduate engineers",
        "Recruitment budget £96k; agency fees capped at 15% of first-year salary",
        "Employee referral bonus £2,000, paid after the new starter's probation",
        "Target time to hire: 45 days from job advert to accepted offer",
    ]),
    ("Q4 priorities", [
        "Agree payment plans for all accounts more than 90 days overdue by 30 November",
        "Prepare the Severn Water re-tender bid (bid lead: Helen Marsh)",
        "Complete a further 10 Acme distribution-centre surveys",
        "Move the client portal out of the Leeds server room (action CA-4 from IR-2026-007)",
        "Launch the new timesheet approval workflow in PeopleHub",
    ]),
]


def make_pptx(out: Path) -> None:
    from pptx import Presentation
    from pptx.util import Pt

    prs = Presentation()
    title_slide = prs.slides.add_slide(prs.slide_layouts[0])
    title_slide.shapes.title.text = "Q3 2026 Operations Review"
    title_slide.placeholders[1].text = (
        f"{ORG}\nExecutive team meeting, 7 October 2026\n"
        "Presented by Rachel Adeyemi, Chief Operating Officer"
    )
    for title, bullets in SLIDES:
        s = prs.slides.add_slide(prs.slide_layouts[1])
        s.shapes.title.text = title
        tf = s.placeholders[1].text_frame
        tf.text = bullets[0]
        for b in bullets[1:]:
            p = tf.add_paragraph()
            p.text = b
        for p in tf.paragraphs:
            for r in p.runs:
                r.font.size = Pt(20)

    created = dt.datetime(2026, 10, 6, 16, 0, 0)
    _set_office_core(prs.core_properties, "Q3 2026 Operations Review", "Quarterly review",
                     "Rachel Adeyemi", created, "Q3; operations; utilisation; hiring")
    path = out / "q3_review.pptx"
    prs.save(path)
    _normalize_ooxml(path, created)


# ---------------------------------------------------------------------------
# 9. it_security_notes.txt
# ---------------------------------------------------------------------------

IT_NOTES = f"""IT SECURITY NOTES - {ORG}
Maintained by Marcus Webb (Head of IT). Last updated: 20 April 2026.
These notes summarise the rules every member of staff must follow. The full
Information Security Policy (ISP-01) is on the intranet under Policies.

1. PASSWORDS AND SIGN-IN
----------------------------------------------------------------------
- Minimum password length is 14 characters. Use a passphrase of three or
  four random words rather than a complex short password.
- We do NOT force regular password changes. Change your password only if you
  think it has been exposed, or if IT asks you to.
- Never reuse your company password on any other site or service.
- Multi-factor authentication (MFA) is mandatory for every account, including
  email, VPN, PeopleHub and ExpenseFlow. Use the Microsoft Authenticator app.
  IT administrators must use a hardware security key.
- Store work passwords in the company Bitwarden vault, never in a browser or
  a spreadsheet.

2. LAPTOPS AND PHONES
----------------------------------------------------------------------
- All company laptops use full-disk encryption: BitLocker on Windows and
  FileVault on macOS. Do not turn it off. IT keeps the recovery keys.
- Screens lock automatically after 5 minutes of inactivity. Lock your screen
  (Windows key + L) whenever you leave your desk.
- USB memory sticks are blocked, except encrypted sticks issued by IT.
- Install software only from the Company Portal. Ask the service desk if
  something you need is missing.
- Security updates are installed automatically; restart your laptop at least
  once a week. Critical patches are enforced within 72 hours.
- Report a lost or stolen laptop or phone to the IT service desk within one
  hour, on extension 4400 or 0117 496 0400 (24 hours a day), so it can be
  wiped remotely.

3. PHISHING AND SUSPICIOUS EMAIL
----------------------------------------------------------------------
- Report a suspected phishing email by forwarding it as an attachment to
  security@{DOMAIN}, or use the Report Phish button in Outlook. Then
  delete it.
- Do not click links, open attachments or reply.
- If you already clicked a link or entered your password, call the service
  desk on extension 4400 straight away. You will not be blamed - speed matters.
- Finance: always confirm a change of a supplier's bank details by phoning a
  known number, never by replying to the email.

4. VPN AND REMOTE ACCESS
----------------------------------------------------------------------
- The company VPN (FortiClient, profile "HP-Connect") is needed for the project
  file servers and BIM licences when you are not in the office. Email,
  Teams and SharePoint work without it.
- Always connect to the VPN on public or hotel Wi-Fi. Split tunnelling is
  disabled, so all traffic goes through the company network.
- Since the March 2026 server room incident the VPN gateway is being moved to
  cloud hosting with automatic failover to Bristol; until then, if the VPN is
  down, use SharePoint for urgent files.
- Do not use personal devices for the VPN.

5. CLASSIFICATION AND SHARING
----------------------------------------------------------------------
- Client drawings and reports are CONFIDENTIAL unless the client says
  otherwise. Share them externally only through the client portal or
  SharePoint links that expire after 30 days.
- Never send client data to personal email addresses or consumer file-sharing
  services.
"""


def make_it_notes(out: Path) -> None:
    (out / "it_security_notes.txt").write_text(IT_NOTES, encoding="utf-8")


# ---------------------------------------------------------------------------
# 10. intranet_faq.html
# ---------------------------------------------------------------------------

FAQ_HTML = f"""<!DOCTYPE html>
<html lang="en-GB">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Frequently asked questions - HP Intranet</title>
  <style>
    body {{ font-family: Arial, sans-serif; margin: 0; color: #1d2630; }}
    nav ul {{ list-style: none; display: flex; gap: 1.5em; background: #12355b; margin: 0; padding: .8em 2em; }}
    nav a {{ color: #fff; text-decoration: none; }}
    header, main, footer {{ padding: 0 2em; }}
    main section {{ border-bottom: 1px solid #d6dde5; padding-bottom: .5em; }}
    footer {{ font-size: .85em; color: #5b6875; }}
  </style>
</head>
<body>
  <nav aria-label="Main menu">
    <ul>
      <li><a href="/">Home</a></li>
      <li><a href="/people/">People</a></li>
      <li><a href="/it/">IT</a></li>
      <li><a href="/facilities/">Facilities</a></li>
      <li><a href="/travel/">Travel</a></li>
      <li><a href="/policies/">Policies</a></li>
      <li><a href="/faq/" aria-current="page">FAQ</a></li>
    </ul>
  </nav>
  <header>
    <h1>Frequently asked questions</h1>
    <p>Quick answers about life in the Bristol and Leeds offices. Can't find what you need?
       Raise a ticket in the FixIt portal.</p>
    <form role="search" action="/search"><input type="search" name="q" placeholder="Search the intranet"></form>
  </header>
  <main>
    <section id="guest-wifi">
      <h2>How do visitors get onto the guest Wi-Fi?</h2>
      <p>Visitors use the <strong>HP-Guest</strong> network. Ask reception for a guest voucher:
         each voucher code is valid for 24 hours and for up to three devices. For events with
         more than ten visitors, request vouchers from the IT service desk two working days in
         advance. Staff devices must use the HP-Staff network, never HP-Guest.</p>
    </section>
    <section id="parking">
      <h2>How do I get a parking permit?</h2>
      <p>Bristol: the office has 22 spaces in the Anchor Road car park, allocated by permit.
         Apply using form FAC-07 on the Facilities page. Priority goes to Blue Badge holders,
         car-sharers and staff who regularly carry site equipment. Permits last six months and
         are reviewed in January and July.</p>
      <p>Leeds: there is no on-site parking. Staff get a discounted rate of £8 per day at the
         Wellington Place multi-storey car park by showing their ID badge.</p>
    </section>
    <section id="canteen">
      <h2>When is the canteen open?</h2>
      <p>The Drawing Board canteen on the ground floor of the Bristol office serves hot food from
         11:30 to 14:00, Monday to Friday. Coffee and snacks are available from the self-service
         bar all day. The Leeds office has a shared kitchen with fridges, microwaves and a coffee
         machine, but no catering.</p>
    </section>
    <section id="bikes">
      <h2>Is there somewhere to leave my bike?</h2>
      <p>Both offices have secure bike storage opened with your ID badge, plus showers and
         lockers. Bristol has 30 bike spaces in the basement; Leeds has 12 in the courtyard.
         The Cycle to Work scheme opens twice a year through PeopleHub.</p>
    </section>
    <section id="printing">
      <h2>How do I collect my printing?</h2>
      <p>All printers use follow-me printing: send your job to "HP-Print" and tap your ID badge on
         any printer to release it. A3 and plotter prints for drawings are on the first floor in
         Bristol and next to the meeting rooms in Leeds.</p>
    </section>
    <section id="badge">
      <h2>I have lost my ID badge. What should I do?</h2>
      <p>Tell reception straight away so the badge can be cancelled. A temporary badge is issued
         for the day, and a replacement badge costs £10, deducted from pay for the second and any
         later loss.</p>
    </section>
    <section id="first-aid">
      <h2>Who are the first aiders?</h2>
      <p>The current list of first aiders and mental health first aiders is displayed next to the
         lifts on every floor and on the Facilities page. First aid kits and a defibrillator are
         kept at reception in both offices.</p>
    </section>
  </main>
  <footer>
    <p>&copy; 2026 {ORG.replace("&", "&amp;")} &middot; Intranet page owner: Facilities team
       (facilities@{DOMAIN}) &middot; Last updated 5 May 2026</p>
  </footer>
  <script>
    document.querySelectorAll("main h2").forEach(function (h) {{ h.tabIndex = 0; }});
  </script>
</body>
</html>
"""


def make_faq(out: Path) -> None:
    (out / "intranet_faq.html").write_text(FAQ_HTML, encoding="utf-8")


# ---------------------------------------------------------------------------
# qa.jsonl
# ---------------------------------------------------------------------------

def _q(source: str | None, question: str, patterns: list[str], page: int | None = None) -> dict:
    return {"question": question, "source": source, "page": page,
            "answer_patterns": patterns, "answerable": source is not None}


QA: list[dict] = [
    # contract
    _q("acme_services_agreement.docx",
       "How much notice do we have to give Acme Logistics if we want to end the contract without a reason?",
       [r"(60|sixty)\s*days"]),
    _q("acme_services_agreement.docx",
       "When does the Acme Logistics agreement start, and how long is it for?",
       [r"1(st)?\s+March\s+2026|2026-03-01|01/03/2026", r"24\s*months|two\s+years|2\s+years"]),
    _q("acme_services_agreement.docx",
       "What is the cap on our liability under the Acme contract?",
       [r"2,500,000|2\.5\s*(m\b|million)"]),
    # handbook
    _q("employee_handbook.docx",
       "How many days of unused holiday can I carry over to next year?",
       [r"(?<![\d.])5\s*days|five\s*days"]),
    _q("employee_handbook.docx",
       "How many days per week am I allowed to work from home?",
       [r"(?<![\d.])3\s*days|three\s*days"]),
    _q("employee_handbook.docx",
       "I'm ill today - by what time do I need to call my manager?",
       [r"10[:.]00|10\s*(am|a\.m\.)"]),
    # travel policy
    _q("travel_expense_policy.md",
       "What is the daily allowance for meals on an overnight business trip in the UK?",
       [r"£\s*45\b|45\s*(GBP|pounds)"]),
    _q("travel_expense_policy.md",
       "And what is the per diem when travelling abroad?",
       [r"£\s*70\b|70\s*(GBP|pounds)"]),
    _q("travel_expense_policy.md",
       "What's the maximum I can spend per night on a hotel in London?",
       [r"£\s*160\b|160\s*(GBP|pounds)"]),
    _q("travel_expense_policy.md",
       "Am I allowed to fly business class, and if so when?",
       [r"(6|six)\s*hours"]),
    # incident report PDF
    _q("incident_report_2026-03.pdf",
       "On what date did the server room cooling failure in Leeds happen?",
       [r"14(th)?\s+March(\s+2026)?|2026-03-14|14/03/2026"], page=1),
    _q("incident_report_2026-03.pdf",
       "How long did the outage caused by the cooling failure last?",
       [r"3\s*h(ours?|rs?)?\s*(and\s*)?40\s*min|220\s*min|3:40"], page=2),
    _q("incident_report_2026-03.pdf",
       "How many users were affected by the March server room outage?",
       [r"\b212\b"], page=2),
    _q("incident_report_2026-03.pdf",
       "What was the root cause of the Leeds cooling incident?",
       [r"compressor", r"CRAC[\s-]*(unit\s*)?2"], page=3),
    # price list
    _q("price_list_2026.xlsx",
       "How much do we charge per day for a structural survey?",
       [r"950"]),
    _q("price_list_2026.xlsx",
       "What volume discount does a client get if they spend £60,000 with us in a year?",
       [r"(?<![\d.])5\s*%|five\s+per\s*cent"]),
    # office locations
    _q("office_locations.csv",
       "What's the phone number for the Leeds office?",
       [r"0113\s*496\s*0720"]),
    _q("office_locations.csv",
       "Who is the facilities manager at the Bristol head office?",
       [r"Gemma\s+Okafor"]),
    # board email
    _q("board_update.eml",
       "What revenue did the company report for Q3 2026?",
       [r"4\.2\s*(m\b|million)|4,200,000"]),
    _q("board_update.eml",
       "When is the new Manchester office going to open?",
       [r"January\s+2027|11\s+January"]),
    # Q3 review deck
    _q("q3_review.pptx",
       "What was billable utilisation in Q3?",
       [r"78\s*%"], page=3),
    _q("q3_review.pptx",
       "Which client has seriously overdue invoices flagged as a risk in the Q3 review?",
       [r"Northgate\s+Homes"], page=4),
    _q("q3_review.pptx",
       "How many engineers are we planning to recruit before the end of March 2027?",
       [r"\b12\s+(new\s+)?(engineers|engineering|hires|people|recruits)|twelve"], page=5),
    # IT security notes
    _q("it_security_notes.txt",
       "How long does my password need to be?",
       [r"14\s*(characters|chars)|fourteen"]),
    _q("it_security_notes.txt",
       "Where should I send a suspicious phishing email?",
       [r"security@halvorsenpike\.example"]),
    # intranet FAQ
    _q("intranet_faq.html",
       "What time does the canteen serve lunch?",
       [r"11[:.]30", r"14[:.]00|2(:00)?\s*(pm|p\.m\.)"]),
    _q("intranet_faq.html",
       "How do I apply for a parking permit at the Bristol office?",
       [r"FAC-?\s*07"]),
    _q("intranet_faq.html",
       "How can a visitor get onto our guest Wi-Fi?",
       [r"voucher|reception"]),
    # unanswerable
    _q(None, "What is the capital of Australia?", []),
    _q(None, "What is the company's policy on bringing dogs to the office?", []),
    _q(None, "How many days of paid leave do employees get for jury service?", []),
    _q(None, "Which dental insurance provider does the company use?", []),
    _q(None, "When is this year's staff Christmas party?", []),
    _q(None, "What is Halvorsen & Pike's share price on the stock exchange?", []),
]


def make_qa(out: Path) -> None:
    lines = []
    for i, item in enumerate(QA, start=1):
        rec = {"id": f"q{i:02d}", **item}
        rec = {k: rec[k] for k in ("id", "question", "source", "page", "answer_patterns", "answerable")}
        lines.append(json.dumps(rec, ensure_ascii=False))
    (out / "qa.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "sample_docs",
                    help="output directory (default: <repo>/sample_docs)")
    args = ap.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    for fn in (make_contract, make_handbook, make_travel, make_incident_pdf, make_price_list,
               make_offices, make_eml, make_pptx, make_it_notes, make_faq, make_qa):
        fn(out)
    for p in sorted(out.iterdir()):
        print(f"{p.stat().st_size:>8}  {p.name}")


if __name__ == "__main__":
    main()
