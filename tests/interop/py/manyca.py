#!/usr/bin/python3
"""manyca.py N OUT: N self-signed CA certificates with distinct, long
subject names (one EC key signs them all: only their names matter), in PEM,
to OUT.  For the accept rule's list of acceptable client CA names."""
import datetime
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime(2026, 1, 1)
    with open(out, "wb") as f:
        for i in range(n):
            name = x509.Name([
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "tlsshim test CA bundle " + "x" * 100),
                x509.NameAttribute(NameOID.COMMON_NAME, "tlsshim many-CA test %05d" % i),
            ])
            cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                    .public_key(key.public_key()).serial_number(i + 1)
                    .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
                    .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                    .sign(key, hashes.SHA256()))
            f.write(cert.public_bytes(serialization.Encoding.PEM))


if __name__ == "__main__":
    main()
