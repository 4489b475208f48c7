"""Distinguished names as OpenSSL prints them in RFC 2253 form, which is what Zeek's x509.log and
most tools show: ``CN=imap.gmx.net,emailAddress=server-certs@1und1.de,L=Montabaur,...``.

cryptography's ``Name.rfc4514_string`` does the ordering and escaping; RFC 4514 only names nine
attribute types, so the others would print as dotted OIDs with hex values. The overrides give
them OpenSSL's short names (``crypto/objects/objects.txt``).
"""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import NameOID, ObjectIdentifier

OPENSSL_NAMES: dict[ObjectIdentifier, str] = {
    NameOID.STREET_ADDRESS: "street",
    NameOID.EMAIL_ADDRESS: "emailAddress",
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.POSTAL_CODE: "postalCode",
    NameOID.TITLE: "title",
    NameOID.SURNAME: "SN",
    NameOID.GIVEN_NAME: "GN",
    NameOID.INITIALS: "initials",
    NameOID.PSEUDONYM: "pseudonym",
    NameOID.GENERATION_QUALIFIER: "generationQualifier",
    NameOID.DN_QUALIFIER: "dnQualifier",
    NameOID.BUSINESS_CATEGORY: "businessCategory",
    NameOID.JURISDICTION_COUNTRY_NAME: "jurisdictionC",
    NameOID.JURISDICTION_STATE_OR_PROVINCE_NAME: "jurisdictionST",
    NameOID.JURISDICTION_LOCALITY_NAME: "jurisdictionL",
    NameOID.ORGANIZATION_IDENTIFIER: "organizationIdentifier",
    NameOID.UNSTRUCTURED_NAME: "unstructuredName",
    NameOID.X500_UNIQUE_IDENTIFIER: "x500UniqueIdentifier",
    ObjectIdentifier("2.5.4.41"): "name",
    ObjectIdentifier("2.5.4.13"): "description",
}


def openssl_dn(name: x509.Name) -> str:
    """The name in RFC 2253 order (last RDN first), with OpenSSL's attribute short names."""
    return name.rfc4514_string(OPENSSL_NAMES)
