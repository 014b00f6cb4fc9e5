#if canImport(Glibc)
import Glibc
#endif
import BerthSystem
import Crypto
import Foundation

/// A bearer-token server for the registry's `auth: token` mode: it checks basic credentials and
/// issues an ES256 JWT granting the scopes asked for, signed by a key whose self-signed
/// certificate the registry trusts (x5c header). Plain sockets; one request per connection.
final class TokenServer: @unchecked Sendable {
    let dir: String
    let user: String
    let password: String
    private(set) var port: Int = 0
    private var server: LoopbackServer?
    private let key: P256.Signing.PrivateKey
    private let certDER: String
    static let issuer = "berth-test-issuer"
    static let service = "berth-test-registry"

    var certPath: String { dir + "/cert.pem" }

    init(user: String, password: String) async throws {
        self.user = user; self.password = password
        dir = "/tmp/berth-token-" + String(Identifier.random64().prefix(8))
        try FS.mkdirAll(dir)
        let keyPath = dir + "/key.pem"
        let gen = try await Subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                            "-nodes", "-keyout", keyPath, "-out", dir + "/cert.pem", "-days", "2", "-subj", "/CN=berth-token"])
        guard gen.status == 0 else { throw BerthError.system("openssl: \(gen.stderrText)") }
        key = try P256.Signing.PrivateKey(pemRepresentation: String(contentsOfFile: keyPath, encoding: .utf8))
        certDER = try String(contentsOfFile: dir + "/cert.pem", encoding: .utf8).split(separator: "\n")
            .filter { !$0.hasPrefix("-----") }.joined()
        let box = self
        server = try LoopbackServer { c in box.serve(c) }
        port = server!.port
    }

    /// The registry's `auth:` section for this server.
    var registryAuth: String {
        "  token: { realm: \"http://127.0.0.1:\(port)/token\", service: \(Self.service), issuer: \(Self.issuer), rootcertbundle: \(certPath) }"
    }

    func stop() { server?.stop(); FS.removeAll(dir) }

    private func serve(_ c: Int32) {
        guard let text = readRequestHead(c) else { return }
        let lines = text.components(separatedBy: "\r\n")
        let target = lines[0].split(separator: " ").dropFirst().first.map(String.init) ?? "/"
        let auth = lines.first { $0.lowercased().hasPrefix("authorization:") }.map { String($0.dropFirst("authorization:".count)).trimmingCharacters(in: .whitespaces) }
        let expected = "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
        var status = "200 OK"
        var body: String
        if let auth, auth != expected {
            status = "401 Unauthorized"
            body = #"{"details":"incorrect username or password"}"#
        } else {
            let scopes = URLComponents(string: "http://x" + target)?.queryItems?.filter { $0.name == "scope" }.compactMap(\.value) ?? []
            // Anonymous callers get a token without access; known users get what they ask for.
            let access: [[String: Any]] = auth == nil ? [] : scopes.compactMap { s in
                let p = s.split(separator: ":")
                guard p.count >= 3 else { return nil }
                return ["type": String(p[0]), "name": p[1..<(p.count - 1)].joined(separator: ":"), "actions": p.last!.split(separator: ",").map(String.init)]
            }
            body = (try? jwt(access: access)).map { #"{"token":"\#($0)","expires_in":300}"# } ?? "{}"
        }
        writeAll(c, "HTTP/1.1 \(status)\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body)
    }

    private func jwt(access: [[String: Any]]) throws -> String {
        func b64url(_ d: Data) -> String {
            d.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
        }
        let now = Int(Date().timeIntervalSince1970)
        let header: [String: Any] = ["typ": "JWT", "alg": "ES256", "x5c": [certDER]]
        let claims: [String: Any] = ["iss": Self.issuer, "sub": user, "aud": Self.service, "exp": now + 300, "nbf": now - 60,
                                     "iat": now, "jti": Identifier.random64(), "access": access]
        let input = b64url(try JSONSerialization.data(withJSONObject: header)) + "." + b64url(try JSONSerialization.data(withJSONObject: claims))
        let sig = try key.signature(for: Data(input.utf8))
        return input + "." + b64url(sig.rawRepresentation)
    }
}
