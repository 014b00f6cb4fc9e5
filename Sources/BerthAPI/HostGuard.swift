/// DNS-rebinding guard for plain-TCP listeners: a browser can be made to send requests to
/// 127.0.0.1 under a DNS name an attacker controls, but it always names that host in the Host
/// header. Legitimate clients address berthd by IP or as localhost.
enum HostGuard {
    static func allows(_ host: String?) -> Bool {
        guard var h = host?.lowercased(), !h.isEmpty else { return true }  // HTTP/1.0 without Host
        if h.hasPrefix("[") {
            guard let close = h.firstIndex(of: "]") else { return false }
            return isIPv6(String(h[h.index(after: h.startIndex)..<close]))
        }
        if let colon = h.lastIndex(of: ":") {
            guard h[h.index(after: colon)...].allSatisfy(\.isNumber) else { return false }
            h = String(h[..<colon])
        }
        return h == "localhost" || isIPv4(h)
    }

    static func isIPv4(_ s: String) -> Bool {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { p in p.count <= 3 && Int(p).map { (0...255).contains($0) && p.allSatisfy { $0.isASCII } } == true }
    }

    static func isIPv6(_ s: String) -> Bool {
        !s.isEmpty && s.contains(":") && s.allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." }
    }
}
