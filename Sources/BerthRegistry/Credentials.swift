import BerthSystem
import Foundation

/// Registry credentials as the docker CLI sends them: base64url JSON in `X-Registry-Auth`,
/// plain JSON in the body of `POST /auth`. Never logged.
public struct AuthConfig: Codable, Sendable, Equatable {
    public var username: String?
    public var password: String?
    public var auth: String?
    public var email: String?
    public var serveraddress: String?
    public var identitytoken: String?
    public var registrytoken: String?

    public init(username: String? = nil, password: String? = nil, serveraddress: String? = nil) {
        self.username = username; self.password = password; self.serveraddress = serveraddress
    }

    /// Decodes the `X-Registry-Auth` header; empty, `{}` and undecodable values mean anonymous,
    /// as in dockerd.
    public static func fromHeader(_ value: String?) -> AuthConfig? {
        guard var s = value?.trimmingCharacters(in: .whitespaces), !s.isEmpty else { return nil }
        s = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.count % 4 != 0 { s += "=" }
        guard let data = Data(base64Encoded: s), let a = try? JSONDecoder().decode(AuthConfig.self, from: data) else { return nil }
        return a.normalised.isAnonymous ? nil : a.normalised
    }

    /// `X-Registry-Config` (builds): base64 JSON of registry → credentials; the entry for `domain`
    /// (Docker Hub's under its index URL, as the CLI writes it).
    public static func fromConfigHeader(_ value: String?, domain: String) -> AuthConfig? {
        guard var s = value?.trimmingCharacters(in: .whitespaces), !s.isEmpty else { return nil }
        s = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.count % 4 != 0 { s += "=" }
        guard let data = Data(base64Encoded: s), data.count <= 1 << 20,
              let all = try? JSONDecoder().decode([String: AuthConfig].self, from: data) else { return nil }
        let hub = domain == "docker.io" || domain == "registry-1.docker.io"
        for (key, a) in all {
            let host = key.replacingOccurrences(of: "https://", with: "").replacingOccurrences(of: "http://", with: "")
                .split(separator: "/").first.map(String.init) ?? key
            if host == domain || (hub && (host == "index.docker.io" || host == "docker.io")) {
                return a.normalised.isAnonymous ? nil : a.normalised
            }
        }
        return nil
    }

    /// Splits the legacy `auth` field (base64 of `user:password`) when the parts are missing.
    public var normalised: AuthConfig {
        var a = self
        if (a.username ?? "").isEmpty, let enc = a.auth, let d = Data(base64Encoded: enc),
           let s = String(data: d, encoding: .utf8), let i = s.firstIndex(of: ":") {
            a.username = String(s[..<i]); a.password = String(s[s.index(after: i)...])
        }
        return a
    }

    public var isAnonymous: Bool {
        (username ?? "").isEmpty && (password ?? "").isEmpty && (identitytoken ?? "").isEmpty && (registrytoken ?? "").isEmpty
    }

    var basicHeader: String? {
        guard let u = username, !u.isEmpty else { return nil }
        return "Basic " + Data((u + ":" + (password ?? "")).utf8).base64EncodedString()
    }
}

/// A `WWW-Authenticate` challenge: `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.
public struct AuthChallenge: Sendable, Equatable {
    public var scheme: String
    public var parameters: [String: String]

    public init?(header: String) {
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        guard let sp = trimmed.firstIndex(of: " ") else {
            guard !trimmed.isEmpty else { return nil }
            scheme = trimmed.lowercased(); parameters = [:]; return
        }
        scheme = trimmed[..<sp].lowercased()
        var params: [String: String] = [:]
        var rest = Substring(trimmed[trimmed.index(after: sp)...])
        while !rest.isEmpty {
            rest = rest.drop(while: { $0 == " " || $0 == "," })
            guard let eq = rest.firstIndex(of: "=") else { break }
            let key = rest[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            rest = rest[rest.index(after: eq)...]
            var value = ""
            if rest.first == "\"" {
                rest = rest.dropFirst()
                var escaped = false
                while let c = rest.first {
                    rest = rest.dropFirst()
                    if escaped { value.append(c); escaped = false }
                    else if c == "\\" { escaped = true }
                    else if c == "\"" { break }
                    else { value.append(c) }
                }
            } else {
                let end = rest.firstIndex(of: ",") ?? rest.endIndex
                value = rest[..<end].trimmingCharacters(in: .whitespaces)
                rest = rest[end...]
            }
            params[key] = value
        }
        parameters = params
    }
}
