import BerthModels
import BerthSystem

/// An image reference with Docker's normalisation: `busybox` is `docker.io/library/busybox:latest`.
/// `familiar` is the short form Docker shows (and Berth stores): `busybox:latest`, `acc/bb:v1`,
/// `127.0.0.1:5000/acc/bb:1`.
public struct ImageReference: Sendable, Equatable, CustomStringConvertible {
    /// Registry host, `docker.io` by default.
    public var domain: String
    /// Repository path, `library/busybox` for official images.
    public var path: String
    public var tag: String?
    public var digest: Digest?

    public static let defaultDomain = "docker.io"

    /// Parses and normalises; a missing tag becomes `latest` only when there is no digest.
    public init(parse raw: String) throws {
        let s = raw
        guard !s.isEmpty else { throw BerthError.invalid("invalid reference format") }
        var namePart = Substring(s)
        var digest: Digest? = nil
        if let at = s.firstIndex(of: "@") {
            guard let d = try? Digest(parsing: String(s[s.index(after: at)...])) else {
                throw BerthError.invalid("invalid reference format")
            }
            digest = d
            namePart = s[..<at]
        }
        var tag: String? = nil
        if let colon = namePart.lastIndex(of: ":"), !namePart[namePart.index(after: colon)...].contains("/") {
            tag = String(namePart[namePart.index(after: colon)...])
            namePart = namePart[..<colon]
        }
        if let t = tag {
            guard Self.validTag(t) else { throw BerthError.invalid("invalid reference format") }
        }
        var comps = namePart.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard !comps.isEmpty, !comps.contains(where: \.isEmpty) else { throw BerthError.invalid("invalid reference format") }
        var domain = Self.defaultDomain
        if comps.count > 1, comps[0].contains(".") || comps[0].contains(":") || comps[0] == "localhost" {
            domain = comps.removeFirst()
            if domain == "index.docker.io" { domain = Self.defaultDomain }
        }
        for c in comps where !Self.validComponent(c) {
            if c.contains(where: { $0.isUppercase }) {
                throw BerthError.invalid("invalid reference format: repository name (\(comps.joined(separator: "/"))) must be lowercase")
            }
            throw BerthError.invalid("invalid reference format")
        }
        if domain == Self.defaultDomain && comps.count == 1 { comps.insert("library", at: 0) }
        self.domain = domain
        self.path = comps.joined(separator: "/")
        self.digest = digest
        self.tag = tag ?? (digest == nil ? "latest" : nil)
        guard (domain + "/" + path).count <= 255 else { throw BerthError.invalid("invalid reference format: repository name must not be more than 255 characters") }
    }

    static func validTag(_ t: String) -> Bool {
        guard let f = t.first, t.count <= 128, f.isASCII, f.isLetter || f.isNumber || f == "_" else { return false }
        return t.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "." || $0 == "-") }
    }

    static func validComponent(_ c: String) -> Bool {
        let u = Array(c.utf8)
        func alnum(_ b: UInt8) -> Bool { (b >= 97 && b <= 122) || (b >= 48 && b <= 57) }
        guard let first = u.first, let last = u.last, alnum(first), alnum(last) else { return false }
        var i = 0
        while i < u.count {
            if alnum(u[i]) { i += 1; continue }
            // separators: '.', '_', '__', or one or more '-'
            if u[i] == UInt8(ascii: ".") { i += 1 }
            else if u[i] == UInt8(ascii: "_") { i += 1; if i < u.count && u[i] == UInt8(ascii: "_") { i += 1 } }
            else if u[i] == UInt8(ascii: "-") { while i < u.count && u[i] == UInt8(ascii: "-") { i += 1 } }
            else { return false }
            guard i < u.count, alnum(u[i]) else { return false }
        }
        return true
    }

    /// `busybox`, `acc/bb`, `127.0.0.1:5000/acc/bb`
    public var familiarName: String {
        if domain == Self.defaultDomain {
            return path.hasPrefix("library/") && path.split(separator: "/").count == 2 ? String(path.dropFirst(8)) : path
        }
        return domain + "/" + path
    }

    /// `busybox:latest` or `busybox@sha256:…` (the stored key).
    public var familiar: String {
        if let tag { return familiarName + ":" + tag }
        return familiarName + "@" + (digest?.description ?? "")
    }

    public var fullName: String { domain + "/" + path }
    public var description: String { familiar }
}
