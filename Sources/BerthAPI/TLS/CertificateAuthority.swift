#if canImport(Glibc)
import Glibc
#endif
import BerthSystem
import Crypto
import Foundation
import SwiftASN1
import X509

/// `berthd tls init`: a private CA and the two certificates remote access needs, in the layout
/// the docker CLI reads (`DOCKER_CERT_PATH` holds `ca.pem`, `cert.pem`, `key.pem`):
///
///     DIR/ca.pem  DIR/ca-key.pem                 the CA (its key never leaves the host)
///     DIR/server-cert.pem  DIR/server-key.pem    berthd's (--tlscert, --tlskey)
///     DIR/client/ca.pem  cert.pem  key.pem       what a remote user copies
///
/// Keys are ECDSA P-256, written 0600; certificates are valid for ten years. The server
/// certificate names the host (and IPs) it is reached by, plus localhost and 127.0.0.1.
public enum CertificateAuthority {
    public struct Paths: Sendable {
        public let dir: String
        public init(dir: String) { self.dir = dir }
        public var ca: String { dir + "/ca.pem" }
        public var caKey: String { dir + "/ca-key.pem" }
        public var serverCert: String { dir + "/server-cert.pem" }
        public var serverKey: String { dir + "/server-key.pem" }
        public var clientDir: String { dir + "/client" }
        public var clientCert: String { clientDir + "/cert.pem" }
        public var clientKey: String { clientDir + "/key.pem" }
    }

    /// Writes a new CA, server and client certificate into `dir` (refusing to overwrite a CA).
    public static func initialise(dir: String, hostnames: [String], ips: [String]) throws -> Paths {
        let p = Paths(dir: dir)
        guard !FS.exists(p.ca) else { throw BerthError.conflict("\(p.ca) exists; remove \(dir) to make new certificates") }
        var addresses: [[UInt8]] = []
        for ip in ips + ["127.0.0.1"] {
            guard let bytes = ipBytes(ip) else { throw BerthError.invalid("not an IP address: \(ip)") }
            if !addresses.contains(bytes) { addresses.append(bytes) }
        }
        var names = hostnames.filter { !$0.isEmpty }
        if !names.contains("localhost") { names.append("localhost") }
        try FS.mkdirAll(p.clientDir, mode: 0o700)
        let now = Date()
        let notBefore = now.addingTimeInterval(-3600), notAfter = now.addingTimeInterval(10 * 365 * 86400)

        let caKey = P256.Signing.PrivateKey()
        let caName = try DistinguishedName { OrganizationName("Berth"); CommonName("Berth CA") }
        let ca = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(caKey.publicKey), notValidBefore: notBefore,
            notValidAfter: notAfter, issuer: caName, subject: caName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: .init(caKey))

        func leaf(_ cn: String, usage: ExtendedKeyUsage.Usage, sans: [GeneralName]) throws -> (Certificate, P256.Signing.PrivateKey) {
            let key = P256.Signing.PrivateKey()
            let cert = try Certificate(
                version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey), notValidBefore: notBefore,
                notValidAfter: notAfter, issuer: caName, subject: try DistinguishedName { OrganizationName("Berth"); CommonName(cn) },
                signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.notCertificateAuthority)
                    Critical(KeyUsage(digitalSignature: true))
                    try ExtendedKeyUsage([usage])
                    if !sans.isEmpty { SubjectAlternativeNames(sans) }
                },
                issuerPrivateKey: .init(caKey))
            return (cert, key)
        }
        let sans = names.map { GeneralName.dnsName($0) } + addresses.map { GeneralName.ipAddress(ASN1OctetString(contentBytes: $0[...])) }
        let (server, serverKey) = try leaf(names[0], usage: .serverAuth, sans: sans)
        let (client, clientKey) = try leaf("berth client", usage: .clientAuth, sans: [])

        try write(p.caKey, caKey.pemRepresentation, mode: 0o600)
        try write(p.serverKey, serverKey.pemRepresentation, mode: 0o600)
        try write(p.clientKey, clientKey.pemRepresentation, mode: 0o600)
        try write(p.serverCert, try server.serializeAsPEM().pemString, mode: 0o644)
        try write(p.clientCert, try client.serializeAsPEM().pemString, mode: 0o644)
        try write(p.clientDir + "/ca.pem", try ca.serializeAsPEM().pemString, mode: 0o644)
        try write(p.ca, try ca.serializeAsPEM().pemString, mode: 0o644)  // last: its presence means "done"
        return p
    }

    static func write(_ path: String, _ text: String, mode: mode_t) throws {
        try FS.writeAtomically(path, Data((text.hasSuffix("\n") ? text : text + "\n").utf8), mode: mode)
    }

    /// The bytes of an IPv4 or IPv6 address, or nil.
    static func ipBytes(_ s: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, s, &v4) == 1 { return withUnsafeBytes(of: v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, s, &v6) == 1 { return withUnsafeBytes(of: v6) { Array($0) } }
        return nil
    }
}
