"""The UI's Dutch words: labels of statuses and roles, and the errors of the service layer as a user reads them.

The services raise errors with a code and an English message (the JSON API's contract); the UI shows the Dutch
text for the code here, or the service's own message when a code has none yet.
"""

from __future__ import annotations

from datetime import date, datetime

from authz.clock import AMSTERDAM
from authz.domain import sentences
from authz.service.accounts import dutch_day

STATUS = {"approved": "goedgekeurd, nog niet geactiveerd", "active": "actief", "inactive": "gedeactiveerd",
          "pending_operator": "wacht op Gegevensdiensten", "pending_beheerder": "wacht op een beheerder",
          "pending": "nog niet gecontroleerd", "verified": "gecontroleerd"}
ROLES = {"beheerder": "beheerder", "operator": "operator"}

CSRF_FAILED = ("Dit formulier is verlopen of komt niet van deze website. Er is niets gewijzigd. Laad de pagina "
               "opnieuw en probeer het nog eens.")
FOREIGN_ORIGIN = ("Dit verzoek kwam van een pagina van een andere website. Er is niets gewijzigd. Open dit portaal "
                  "zelf en probeer het daar opnieuw.")

ERROR_TITLES = {400: "Onjuist verzoek", 403: "Geen toegang", 404: "Niet gevonden", 405: "Dit is geen pagina",
                409: "Dat kan niet (meer)",
                410: "Link verlopen", 422: "Controleer uw invoer", 429: "Even geduld",
                503: "Tijdelijk niet beschikbaar"}

FIELDS = {"email": "e-mailadres", "password": "wachtwoord", "password2": "herhaling van het wachtwoord",
          "kvk": "KvK-nummer", "organisation_name": "naam van de organisatie", "name": "naam", "code": "code",
          "afnemer": "afnemer", "reason": "reden", "intermediair": "KvK-nummer van de intermediair",
          "product": "product", "domains": "e-maildomeinen", "valid_from": "ingangsdatum",
          "valid_until": "einddatum", "description": "omschrijving", "old_password": "huidig wachtwoord",
          "otp": "code", "url": "link", "products": "producten"}

ERRORS = {
    "invalid_credentials": "Het e-mailadres of wachtwoord klopt niet, of het account is (nog) niet actief.",
    "not_logged_in": "Log eerst in.",
    "mfa_required": "Vul de code uit uw authenticator-app in.",
    "invalid_otp": "Deze code klopt niet, is verlopen of is al gebruikt.",
    "mfa_enrolment_required": "Stel eerst een tweede factor in; daarna kunt u verder.",
    "mfa_enrolled": "U heeft al een tweede factor. Verwijder die eerst als u een nieuwe wilt instellen.",
    "mfa_not_started": "Begin opnieuw met het instellen van een tweede factor.",
    "mfa_not_enrolled": "Dit account heeft geen tweede factor.",
    "forbidden": "U heeft geen toegang tot deze pagina of handeling.",
    "weak_password": "Kies een wachtwoord van 12 tot 256 tekens.",
    "password_mismatch": "De twee wachtwoorden zijn niet gelijk.",
    "invalid_email": "Vul een geldig zakelijk e-mailadres in.",
    "free_mail_domain": "Gebruik uw zakelijke e-mailadres; adressen van gratis e-maildiensten worden niet "
                        "geaccepteerd.",
    "email_domain_not_allowed": "Dit e-mailadres hoort niet bij een van de e-maildomeinen van de organisatie.",
    "invalid_kvk": "Een KvK-nummer bestaat uit precies 8 cijfers.",
    "already_registered": "Voor dit e-mailadres bestaat al een account of een aanvraag.",
    "account_exists": "Voor dit e-mailadres bestaat al een account.",
    "missing_field": "Vul alle verplichte velden in.",
    "invalid_token": "Deze link is niet geldig.",
    "token_expired": "Deze link is verlopen. Vraag uw beheerder om een nieuwe.",
    "token_used": "Deze link is al gebruikt.",
    "not_activatable": "Dit account kan niet (meer) worden geactiveerd.",
    "stale_version": "Een andere beheerder heeft de rechten van deze gebruiker intussen gewijzigd. Uw wijziging is "
                     "niet opgeslagen. Hieronder ziet u de huidige stand; pas die zo nodig opnieuw aan.",
    "not_selectable": "Een of meer van de aangevinkte producten kunnen voor deze afnemer niet (meer) worden "
                      "gekoppeld.",
    "afnemer_not_selectable": "Uw organisatie heeft (vandaag) geen geldige opdracht van deze afnemer.",
    "last_beheerder": "Dit is de laatste beheerder van uw organisatie. Wijs eerst een andere beheerder aan.",
    "account_not_active": "Alleen een actief account kan beheerder worden.",
    "not_beheerder": "Dit account is geen beheerder.",
    "request_decided": "Over deze aanvraag is al besloten.",
    "not_for_operator": "Over deze aanvraag beslist een beheerder van de organisatie.",
    "not_for_beheerder": "Over deze aanvraag beslist Gegevensdiensten.",
    "unknown_request": "Deze aanvraag bestaat niet.",
    "unknown_account": "Dit account bestaat niet (in uw organisatie).",
    "unknown_organisation": "Deze organisatie is niet bekend.",
    "unknown_product": "Dit product is niet bekend.",
    "unknown_contract": "Dit contract bestaat niet.",
    "unknown_mandate": "Deze opdracht bestaat niet.",
    "organisation_exists": "Er bestaat al een organisatie met dit KvK-nummer.",
    "product_exists": "Er bestaat al een product met deze code.",
    "invalid_product_code": "Een productcode bestaat uit kleine letters, cijfers en '-' (2 tot 63 tekens).",
    "invalid_date": "Vul een datum in als JJJJ-MM-DD.",
    "invalid_period": "De einddatum ligt voor de begindatum.",
    "invalid_cursor": "Deze pagina bestaat niet (meer); begin bij de eerste pagina.",
    "invalid_dates": "De einddatum ligt voor de ingangsdatum.",
    "invalid_field": "Een van de velden heeft geen geldige waarde.",
    "invalid_domain": "Vul e-maildomeinen in zoals 'voorbeeld.nl'.",
    "invalid_mandate": "Een organisatie kan geen opdracht aan zichzelf geven.",
    "already_invited": "Dit e-mailadres heeft al een open uitnodiging; verstuur die opnieuw.",
    "email_unavailable": "Dit e-mailadres kan niet worden uitgenodigd.",
    "already_inactive": "Dit account is al gedeactiveerd.",
    "not_inactive": "Dit account is niet gedeactiveerd.",
    "unknown_invitation": "Deze uitnodiging bestaat niet.",
    "invitation_accepted": "Deze uitnodiging is al gebruikt.",
    "invitation_withdrawn": "Deze uitnodiging is ingetrokken.",
    "wrong_password": "Het huidige wachtwoord klopt niet.",
    "same_password": "Kies een ander wachtwoord dan het huidige.",
    "too_many_attempts": "Te veel mislukte pogingen om in te loggen. Probeer het later opnieuw.",
    "too_many_requests": "Te veel aanvragen in korte tijd. Probeer het later opnieuw.",
    "stale": "De gegevens kunnen nu niet worden bevestigd; probeer het zo nog eens.",
    "database_unavailable": "De database is niet bereikbaar; probeer het zo nog eens.",
    "throttle_unavailable": "Inloggen en wachtwoorden controleren kan nu even niet; probeer het zo nog eens.",
    "sessions_unavailable": "Sessies kunnen nu niet worden gecontroleerd; probeer het zo nog eens.",
    "conflict": "Dit botst met gegevens die al bestaan. Er is niets gewijzigd.",
    "key_exists": "Deze dienst heeft al een sleutel.",
    "key_revoked": "De sleutel van deze dienst is al ingetrokken.",
    "unknown_key": "Er is geen dienst met deze naam.",
    "unknown_mail": "Deze e-mail bestaat niet.",
    "mail_not_dead": "Alleen een e-mail die niet kon worden bezorgd, kan opnieuw worden verstuurd.",
    # Mijn producten (R16): the operator's link of a product
    "invalid_url": "Vul een link in die begint met https://, zonder spaties (ten hoogste 2000 tekens).",
}

# What the findings of ``authz policy lint`` (authz/policyfile/lint.py) are called, per kind; the page shows the
# finding itself in Dutch with names (``lint.describe``).
FINDINGS = {
    "account_not_activated": "Account niet geactiveerd",
    "grant_to_inactive_account": "Koppeling van een gedeactiveerd account",
    "inert_grant": "Vervallen koppeling",
    "no_beheerder": "Geen beheerder",
    "single_beheerder": "Eén beheerder",
    "contract_ending": "Contract loopt af",
    "mandate_ending": "Opdracht loopt af",
}


# The operator's reset of an account's lost second factor (R17).
MFA_RESET_TITLE = "Tweede factor herstellen"


def mfa_reset_done(email: str) -> str:
    return (f"De tweede factor van {email} is verwijderd. Het account is overal uitgelogd en heeft hierover een "
            f"e-mail gekregen. Bij de volgende keer inloggen volstaat het wachtwoord; waar een tweede factor verplicht "
            f"is, stelt het account direct een nieuwe in.")


# -- Operator (R18) ------------------------------------------------------------------------------------------------
# The operator's care for an organisation, the confirmation pages of its consequential actions, R5's decisions and
# the e-mails that could not be delivered.
OP_DEACTIVATE = ("Account deactiveren", "Deactiveren", "Het account kan daarna niet meer inloggen, alle "
                 "toegangsrechten geven direct geen toegang meer (de koppelingen blijven bewaard) en de eigenaar "
                 "krijgt een e-mail. De laatste actieve beheerder kan niet worden gedeactiveerd.")
OP_APPOINT = ("Beheerder aanwijzen", "Aanwijzen als beheerder", "Het account wordt beheerder van de organisatie: het "
              "beheert de accounts en toegangsrechten van de organisatie en keurt aanvragen goed. De eigenaar krijgt "
              "een e-mail.")
OP_REMOVE = ("Beheerder intrekken", "Beheerderschap intrekken", "Het account blijft bestaan maar is geen beheerder "
             "meer. De eigenaar krijgt een e-mail. De laatste actieve beheerder kan niet worden ingetrokken: wijs "
             "eerst een andere beheerder aan.")
OP_END_CONTRACT = ("Contract beëindigen", "Contract beëindigen", "Het contract eindigt direct: de laatste dag is "
                   "gisteren. Koppelingen die erop rusten geven direct geen toegang meer en blijven gemarkeerd "
                   "zichtbaar tot een beheerder ze verwijdert. Het contract blijft als beëindigd in de lijst staan.")
OP_END_MANDATE = ("Opdracht beëindigen", "Opdracht beëindigen", "De opdracht eindigt direct: de laatste dag is "
                  "gisteren. De intermediair kan voor deze afnemer direct niets meer inzien. De opdracht blijft als "
                  "beëindigd in de lijst staan.")
OP_APPROVE = ("Aanvraag goedkeuren", "Goedkeuren", "Bij goedkeuring wordt de organisatie gecontroleerd (als zij dat "
              "nog niet was) en wordt de aanvrager de beheerder van de organisatie. De aanvrager krijgt een e-mail "
              "met een activatielink.")
OP_REJECT = ("Aanvraag afwijzen", "Afwijzen", "De aanvrager krijgt een e-mail dat de aanvraag is afgewezen, met de "
             "reden als u die invult.")
OP_MAIL_TITLE = "Niet bezorgde e-mails"
OP_MAIL_RETRIED = "De e-mail wordt opnieuw verstuurd."
OP_ORG_SAVED = "De gegevens van {name} zijn opgeslagen."
OP_REACTIVATED = "Het account {email} is weer actief (of krijgt een nieuwe activatielink) en heeft een e-mail gekregen."
OP_DEACTIVATED = "Het account {email} is gedeactiveerd en heeft hierover een e-mail gekregen."
OP_APPOINTED = "{email} is nu beheerder van {org} en heeft hierover een e-mail gekregen."
OP_REMOVED = "{email} is geen beheerder meer van {org} en heeft hierover een e-mail gekregen."
OP_NO_BEHEERDER = ("Deze organisatie heeft geen actieve beheerder. Wijs een actief account aan als beheerder; "
                   "anders kan niemand de accounts en toegangsrechten van de organisatie beheren.")


def dutch_date(value: str | None) -> str:
    """An ISO day or moment as "2 december 2026" (moments in Europe/Amsterdam, by the e-mails' own
    :func:`authz.service.accounts.dutch_day`); "" for none."""
    if not value:
        return ""
    if len(value) == 10:
        day = date.fromisoformat(value)
        return dutch_day(datetime(day.year, day.month, day.day, 12, tzinfo=AMSTERDAM))
    return dutch_day(datetime.fromisoformat(value))


# The contract and mandate forms (the operator's): "open-ended" and "all products" are boxes of their own, never
# the result of a field left empty.
END_MISSING = "Vul de laatste dag in, of vink ‘Geen einddatum’ aan."
END_BOTH = "Vul een laatste dag in óf vink ‘Geen einddatum’ aan, niet allebei."
PRODUCTS_BOTH = "Vink ‘Alle producten van de afnemer’ aan óf kies producten, niet allebei."
# A refusal of the service about a field, in the words of the form (code, field) -> text.
FIELD_ERRORS = {
    ("invalid_field", "products"): "Vink de producten aan die de opdracht omvat, of vink ‘Alle producten van de "
                                   "afnemer’ aan. Een opdracht voor geen enkel product beëindigt u met "
                                   "‘Beëindigen’.",
}


def domains_refused(code: str, domain: str, applicant: str) -> str:
    """The operator's e-mail domains of an organisation refused (R10), said to the operator, naming the field and
    the domain; ``applicant``: the address of the request being approved, which must fall under them."""
    if code == "free_mail_domain":
        said = (f"{domain} is een domein van gratis e-maildiensten en kan geen e-maildomein van een organisatie "
                f"zijn. Laat het weg.")
    elif code == "invalid_domain":
        said = f"‘{domain}’ is geen e-maildomein. Vul domeinen in zoals ‘voorbeeld.nl’, gescheiden door spaties."
    elif code == "email_domain_not_allowed":
        said = (f"Het e-mailadres van de aanvrager, {applicant}, valt onder geen van deze domeinen. Voeg "
                f"{applicant.rpartition('@')[2]} toe, of laat het veld leeg.")
    else:
        said = ERRORS.get(code, "Deze e-maildomeinen kunnen niet worden opgeslagen.")
    return about_field("domains", said)


def field_error(code: str, field: str | None, said: str) -> str:
    """A refusal of the service, naming the field it is about (when it says which)."""
    return about_field(field or "", FIELD_ERRORS.get((code, field or ""), said))


def contract_saved(afnemer: str, product: str, valid_from: str, valid_until: str | None) -> str:
    """After the operator saved a contract: whose, for what (names) and its days, in the house date format."""
    return (f"Het contract van {afnemer} voor {product} geldt {sentences.span(valid_from, valid_until)}. Niemand "
            f"krijgt hierdoor automatisch toegang: een beheerder koppelt het product.")


def contract_ended(afnemer: str, product: str, last_day: str | None) -> str:
    last = f"; de laatste dag was {dutch_date(last_day)}" if last_day else ""
    return (f"Het contract van {afnemer} voor {product} is beëindigd{last}. Koppelingen die erop rustten geven geen "
            f"toegang meer en blijven gemarkeerd zichtbaar tot een beheerder ze verwijdert.")


def mandate_scope(products: list[str] | None) -> str:
    """The products of a mandate by name: ``Polisadministratie en Verzuim``, or all of them."""
    return sentences.listing(products) if products else "alle producten van de afnemer"


def mandate_saved(afnemer: str, intermediair: str, products: list[str] | None, valid_from: str,
                  valid_until: str | None) -> str:
    return (f"De opdracht van {afnemer} aan {intermediair} geldt voor {mandate_scope(products)}, "
            f"{sentences.span(valid_from, valid_until)}.")


def mandate_ended(afnemer: str, intermediair: str, last_day: str | None) -> str:
    last = f"; de laatste dag was {dutch_date(last_day)}" if last_day else ""
    return f"De opdracht van {afnemer} aan {intermediair} is beëindigd{last}."


def label(name: str) -> str:
    return FIELDS.get(name, name)


def missing(name: str) -> str:
    return f"Vul het veld '{label(name)}' in."


def too_long(name: str, max_len: int) -> str:
    return f"Het veld '{label(name)}' mag ten hoogste {max_len} tekens bevatten."


def control_characters(name: str) -> str:
    return f"Het veld '{label(name)}' bevat een teken dat niet in tekst thuishoort (zoals een tab of nieuwe regel)."


# -- Mijn producten (R16): the gebruiker's own page, /producten ----------------------------------------------------

MINE_TITLE = "Mijn producten"
MINE_INTRO = ("Dit zijn de producten die u nu mag bekijken, per afnemer waarvoor u ze bekijkt. Een wijziging "
              "door uw beheerder ziet u hier meteen; opnieuw inloggen is niet nodig.")
MINE_EMPTY = ("U heeft nog geen producten. Vraag uw beheerder om de producten die u nodig heeft aan uw account te "
              "koppelen; daarna ziet u ze hier.")
MINE_INERT_TITLE = "Koppelingen die nu geen toegang geven"
MINE_INERT_INTRO = ("Deze producten zijn aan uw account gekoppeld, maar u kunt ze nu niet bekijken. Wordt het "
                    "contract of de opdracht vernieuwd, dan heeft u weer toegang. Uw beheerder kan de koppeling "
                    "ook verwijderen.")
MINE_OPERATOR = "Gegevensdiensten"  # who gave a grant that a command (a policy import) wrote


def product_link_set(name: str, url: str | None) -> str:
    """The operator's portal, after setting a product's link."""
    return f"De link van {name} is nu {url}." if url else f"{name} heeft nu geen link."


def mine_giver(email: str, name: str) -> str:
    """Who ticked a grant, as the page says it: the beheerder's name (else e-mail); a command's is ours."""
    return MINE_OPERATOR if email.startswith("cli:") else name


# -- Logboek en bevestigingen -------------------------------------------------------------------------------------
# The Logboek's filters (admin_ui/logbook.py), the confirmation pages of the beheerder's consequential buttons, the
# portal's 404 page. The sentences of the Logboek itself are authz/domain/sentences.py's (also in the CSV).

PAGE_NOT_FOUND = ("Deze pagina bestaat niet (meer). Controleer het adres, of ga via de startpagina naar de "
                  "pagina die u zoekt.")
METHOD_NOT_ALLOWED = "Dit adres is geen pagina om te openen, maar hoort bij een knop op een andere pagina."
LOGBOOK_FIELDS = {"van": "Van", "tot": "Tot en met"}
LOGBOOK_PERIOD_REVERSED = "De einddatum lag voor de begindatum; de twee zijn omgewisseld."


def logbook_bad_day(name: str) -> str:
    return f"Vul bij '{LOGBOOK_FIELDS.get(name, name)}' een datum in als JJJJ-MM-DD; dit filter is nu niet gebruikt."


# -- Beslissingen: the decision log (admin_ui/decisions.py) ------------------------------------------------------

DECISIONS_TITLE = "Beslissingen"
DECISIONS_INTRO = ("Elke beslissing die deze dienst aan andere diensten gaf: wie mocht welk product zien, voor welke "
                   "afnemer, en waarom wel of niet. Beslissingen worden na de bewaartermijn verwijderd.")
DECISIONS_NONE = "Geen beslissingen gevonden."
DECISIONS_ANY_AFNEMER = "elke afnemer"
DECISIONS_VERDICT = {True: "toegestaan", False: "geweigerd"}
DECISION_REASONS = {"granted": "gekoppeld, met geldig contract", "unknown_user": "onbekende gebruiker",
                    "inactive_user": "account niet actief", "unknown_product": "onbekend product",
                    "no_grant": "geen koppeling", "no_contract": "geen geldig contract",
                    "no_mandate": "geen geldige opdracht", "unknown_afnemer": "onbekende afnemer",
                    "other": "andere reden"}
DECISIONS_FIELDS = {"gebruiker": "Gebruiker", "product": "Product", "afnemer": "Afnemer", "van": "Van",
                    "tot": "Tot en met"}
DECISIONS_PERIOD_REVERSED = "De einddatum ligt voor de begindatum; er is niet gezocht."
DECISIONS_BAD_PAGE = "Deze pagina bestaat niet (meer); begin bij de nieuwste beslissingen."


def decisions_bad_filter(name: str, said: str) -> str:
    """A filter of the Beslissingen page that cannot be read: its label, the reason, and that nothing was searched."""
    return f"{DECISIONS_FIELDS.get(name, name)}: {said} Er is niet gezocht."


# The confirmation pages (GET: shows, changes nothing; its button POSTs).
CONFIRM_DEACTIVATE = ("Een gedeactiveerd account kan niet meer inloggen en ziet geen producten meer; het wordt overal "
                      "uitgelogd. De koppelingen blijven bewaard, zodat heractiveren alles terugzet. De gebruiker "
                      "krijgt hierover een e-mail.")
CONFIRM_APPOINT = ("Een beheerder past de rechten van alle gebruikers van uw organisatie aan, keurt accountaanvragen "
                   "goed en wijst beheerders aan. De nieuwe beheerder krijgt hierover een e-mail.")
CONFIRM_REMOVE = ("Na het intrekken kan deze persoon geen rechten, aanvragen of beheerders meer beheren. Het account "
                  "zelf blijft actief. De persoon krijgt hierover een e-mail.")
CONFIRM_STEP_DOWN = ("Na het neerleggen van de beheerdersrol kunt u geen rechten, aanvragen of beheerders meer "
                     "beheren. Uw account blijft actief. U krijgt hierover een e-mail.")
CONFIRM_APPROVE = ("Na goedkeuring krijgt de aanvrager een e-mail met een activatielink (21 dagen geldig). Daarna "
                   "kunt u de gebruiker producten geven.")
CONFIRM_REJECT = "De aanvrager krijgt een e-mail dat de aanvraag is afgewezen, met de reden als u die invult."
STEPPED_DOWN = "U heeft de beheerdersrol neergelegd en hierover een e-mail gekregen."


# The registration form: which field an error of the service is about, so the message names it.
REGISTER_FIELD_OF = {"invalid_email": "email", "free_mail_domain": "email", "email_domain_not_allowed": "email",
                     "already_registered": "email", "account_exists": "email", "invalid_kvk": "kvk",
                     "weak_password": "password", "password_mismatch": "password2",
                     "unknown_organisation": "organisation_name"}


def about_field(name: str, said: str) -> str:
    """An error message that names its field (none: the message as it is)."""
    return f"{label(name)[0].upper()}{label(name)[1:]}: {said}" if name else said


# A save against an older version (409 stale_version): who saved in between.
STALE_BY_YOU = ("U heeft de rechten van deze gebruiker intussen zelf gewijzigd, in een ander venster of tabblad. Deze "
                "wijziging is niet opgeslagen. Hieronder ziet u de huidige stand; pas die zo nodig opnieuw aan.")


def stale_by(who: str) -> str:
    by = who or "Een andere beheerder"
    return (f"{by} heeft de rechten van deze gebruiker intussen gewijzigd. Uw wijziging is niet opgeslagen. "
            f"Hieronder ziet u de huidige stand; pas die zo nodig opnieuw aan.")
