"""ocsp_resp.py CERT ISSUER SIGNER-CERT SIGNER-KEY THIS NEXT OUT — an OCSP
response with chosen times (tests/interop/ocsp.sh), which `openssl ocsp`
cannot backdate: status good for CERT, thisUpdate THIS and nextUpdate NEXT
seconds from now (negative: in the past; NEXT "none": no nextUpdate), signed
by SIGNER (the CA or its responder), DER into OUT.
"""
import datetime, sys, warnings
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

warnings.simplefilter("ignore")
cert_f, issuer_f, signer_f, key_f, this_s, next_s, out = sys.argv[1:8]
load = lambda f: x509.load_pem_x509_certificate(open(f, "rb").read())
cert, issuer, signer = load(cert_f), load(issuer_f), load(signer_f)
key = serialization.load_pem_private_key(open(key_f, "rb").read(), None)
now = datetime.datetime.utcnow().replace(microsecond=0)
b = ocsp.OCSPResponseBuilder().add_response(
    cert=cert, issuer=issuer, algorithm=hashes.SHA1(), cert_status=ocsp.OCSPCertStatus.GOOD,
    this_update=now + datetime.timedelta(seconds=int(this_s)),
    next_update=None if next_s == "none" else now + datetime.timedelta(seconds=int(next_s)),
    revocation_time=None, revocation_reason=None,
).responder_id(ocsp.OCSPResponderEncoding.HASH, signer).certificates([signer])
open(out, "wb").write(b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))
