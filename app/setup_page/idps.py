"""Each identity provider's setup steps as data: where to click, what to type in which field, what to turn on, and
what to match on. Menus are named as the vendors' admin consoles show them as of 2026; they move now and then, so
each IdP also says what the screen is called, to search for it.

A field's value may hold `{base_url}` (the SCIM base URL as this IdP wants it) or `{token}` (where the token goes,
with any prefix the field needs).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    """One setting on the IdP's screen: its label there and what to enter."""

    name: str
    value: str
    note: str = ""


@dataclass(frozen=True)
class Idp:
    key: str
    name: str
    url_suffix: str  # appended to the SCIM base URL for this IdP
    menu: tuple[str, ...]  # the path to the screen, step by step
    fields: tuple[Field, ...]
    test: str  # the IdP's connection test, which the live status shows arriving
    features: tuple[str, ...]
    matching: str

    def base_url(self, scim_url: str) -> str:
        return scim_url + self.url_suffix


TOKEN = "{token}"
BASE_URL = "{base_url}"

IDPS: tuple[Idp, ...] = (
    Idp(
        key="okta",
        name="Okta",
        url_suffix="",
        menu=("Admin Console → Applications → Applications → your app (or Create App Integration → SAML 2.0 or "
              "OIDC)",
              "General tab → App Settings → Edit → Provisioning: SCIM → Save",
              "Provisioning tab → Integration → Edit"),
        fields=(
            Field("SCIM connector base URL", BASE_URL),
            Field("Unique identifier field for users", "userName"),
            Field("Supported provisioning actions",
                  "Import New Users and Profile Updates, Push New Users, Push Profile Updates, Push Groups"),
            Field("Authentication Mode", "HTTP Header"),
            Field("Authorization (Bearer)", TOKEN,
                  "Okta adds the word Bearer itself here. In the catalog's “SCIM 2.0 Test App (Header Auth)”, whose "
                  "field is “API Token”, type Bearer, a space, then the token."),
        ),
        test="Test Connector Configuration, then Save (Okta lists users to check the token)",
        features=("Provisioning tab → To App → Edit: Create Users, Update User Attributes, Deactivate Users → Save",
                  "Push Groups tab: push the groups whose members the app needs"),
        matching="userName (Okta's Username, usually the email address)",
    ),
    Idp(
        key="entra",
        name="Microsoft Entra ID",
        url_suffix="?aadOptscim062020",
        menu=("Microsoft Entra admin center → Identity → Applications → Enterprise applications",
              "New application → Create your own application → “Integrate any other application you don't find in "
              "the gallery (Non-gallery)”",
              "Your app → Provisioning → Provisioning Mode: Automatic (new experience: Connect your application, "
              "Bearer authentication)"),
        fields=(
            Field("Tenant URL", BASE_URL,
                  "Keep ?aadOptscim062020 at the end: it makes Entra send standard PATCH requests."),
            Field("Secret Token", TOKEN, "The token alone, without the word Bearer."),
        ),
        test="Test Connection, then Save (Entra looks up a user that cannot exist)",
        features=("Mappings: keep Provision Microsoft Entra ID Users, and Groups if the app needs them",
                  "Settings → Scope: Sync only assigned users and groups",
                  "Users and groups: assign who is provisioned, then Provisioning Status: On → Save"),
        matching="userName, mapped from userPrincipalName (the default matching attribute)",
    ),
    Idp(
        key="onelogin",
        name="OneLogin",
        url_suffix="",
        menu=("Administration → Applications → Applications → Add App",
              "Search “SCIM Provisioner with SAML (SCIM v2 Enterprise)” → Save",
              "Configuration tab → API Connection"),
        fields=(
            Field("SCIM Base URL", BASE_URL),
            Field("SCIM Bearer Token", TOKEN, "The token alone, without the word Bearer."),
            Field("SCIM JSON Template", "keep the template's userName, name and emails"),
        ),
        test="API Status: Enable (OneLogin looks up a user that does not exist)",
        features=("Provisioning tab: Enable provisioning; Create user, Delete user and Update user as the app needs",
                  "Parameters tab: Groups → Include in User Provisioning, to push groups"),
        matching="userName (the scimusername parameter: set it to Email)",
    ),
    Idp(
        key="jumpcloud",
        name="JumpCloud",
        url_suffix="",
        menu=("Admin Portal → SSO Applications → your app (or Add New Application → Custom Application → Export "
              "users to this app (Identity Management))",
              "Identity Management tab"),
        fields=(
            Field("SCIM Version", "SCIM 2.0"),
            Field("Base URL", BASE_URL),
            Field("Token Key", TOKEN, "The token alone, without the word Bearer."),
            Field("Test User Email", "the email of a user in your JumpCloud directory"),
        ),
        test="Test Connection, then Activate and Save (JumpCloud lists users)",
        features=("Group Management: Enable management of User Groups and Group Membership",
                  "User Groups tab: bind the groups whose users the app gets"),
        matching="userName (the user's email address)",
    ),
    Idp(
        key="ping",
        name="PingOne / PingFederate",
        url_suffix="",
        menu=("PingOne: Integrations → Provisioning → + → New connection → Identity Store → SCIM Outbound",
              "Configure authentication (PingFederate: the SCIM Connector of an SP connection's outbound "
              "provisioning has the same fields)"),
        fields=(
            Field("SCIM base URL", BASE_URL),
            Field("Users resource", "/Users"),
            Field("Groups resource", "/Groups"),
            Field("SCIM version", "2.0"),
            Field("Authentication method", "OAuth 2 Bearer Token"),
            Field("OAuth Access Token", TOKEN, "The token alone; Auth Type Header: Bearer."),
        ),
        test="Test Connection (Ping reads a user)",
        features=("Preferences: allow users to be created, updated and disabled (and deleted, if the app wants it)",
                  "Provisioning → Rules: a rule that sends the users (and groups) to this connection, enabled"),
        matching="userName (filter expression userName Eq \"%s\")",
    ),
    Idp(
        key="other",
        name="Another SCIM 2.0 client",
        url_suffix="",
        menu=("Your identity provider's SCIM or provisioning settings",),
        fields=(
            Field("SCIM base URL", BASE_URL, "Users are at /Users, groups at /Groups."),
            Field("Authentication", "HTTP header Authorization: Bearer " + TOKEN,
                  "Bearer tokens only: no Basic authentication, no OAuth client credentials."),
        ),
        test="The client's connection test (usually a user lookup)",
        features=("Users: create, update, deactivate (active: false); groups with members, if the app needs them",),
        matching="userName (unique, case-insensitive); externalId is kept as the client sends it",
    ),
)

BY_KEY = {idp.key: idp for idp in IDPS}
