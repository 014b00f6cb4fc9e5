import BerthSystem
import NIOSSL

/// TLS for a TCP listener, as dockerd's `--tls`/`--tlsverify` set it up: the server's
/// certificate and key, and with `verifyClients` a CA that every client certificate must chain
/// to (mutual TLS; a client without one fails the handshake). TLS 1.2 and later only.
public struct ServerTLS: Sendable {
    public var certificate: String
    public var key: String
    public var ca: String?
    public var verifyClients: Bool

    public init(certificate: String, key: String, ca: String?, verifyClients: Bool) {
        self.certificate = certificate; self.key = key; self.ca = ca; self.verifyClients = verifyClients
    }

    func context() throws -> NIOSSLContext {
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(certificate).map { NIOSSLCertificateSource.certificate($0) }
            var config = TLSConfiguration.makeServerConfiguration(certificateChain: chain,
                                                                  privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
            config.minimumTLSVersion = .tlsv12
            if verifyClients {
                guard let ca else { throw BerthError.invalid("--tlsverify needs --tlscacert") }
                config.trustRoots = .file(ca)
                config.certificateVerification = .noHostnameVerification
            }
            return try NIOSSLContext(configuration: config)
        } catch let e as BerthError {
            throw e
        } catch {
            throw BerthError.invalid("TLS setup: \(error) (certificate \(certificate), key \(key)\(ca.map { ", CA \($0)" } ?? ""))")
        }
    }
}
