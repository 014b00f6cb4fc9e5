import Foundation

/// A registry's answer that was not a success, with its distribution error codes.
public struct RegistryFailure: Error, Sendable, CustomStringConvertible {
    public var status: Int
    public var codes: [String]
    /// Docker's rendering: `manifest unknown: manifest unknown`, or the HTTP status text.
    public var text: String

    struct Body: Decodable {
        struct Item: Decodable { var code: String?; var message: String? }
        var errors: [Item]?
        var details: String?
    }

    init(status: Int, reason: String, body: [UInt8]) {
        self.status = status
        if let b = try? JSONDecoder().decode(Body.self, from: Data(body)), let items = b.errors, !items.isEmpty {
            codes = items.compactMap(\.code)
            text = items.map { i in
                let c = (i.code ?? "unknown").lowercased().replacingOccurrences(of: "_", with: " ")
                return c + ": " + (i.message ?? c)
            }.joined(separator: ", ")
        } else if let b = try? JSONDecoder().decode(Body.self, from: Data(body)), let d = b.details {
            codes = []; text = d
        } else {
            codes = []
            let s = String(decoding: body.prefix(200), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            text = s.isEmpty || s.hasPrefix("<") ? "\(status) \(reason)" : s
        }
    }

    public var description: String { text }
}

/// The registry could not be reached at all (DNS, refused, TLS, timeout).
public struct RegistryUnreachable: Error, Sendable, CustomStringConvertible {
    public var method: String
    public var url: String
    public var reason: String
    public var description: String { "\(method) \"\(url)\": \(reason)" }
}
