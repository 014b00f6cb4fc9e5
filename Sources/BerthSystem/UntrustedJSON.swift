import Foundation

/// JSON that comes from outside (images, archives, registries, API clients): size-capped, and a
/// failure is an invalid-argument error that says what was being read and where it went wrong.
extension Decodable {
    public static func decode(_ bytes: [UInt8], what: String, limit: Int = 16 << 20) throws -> Self {
        guard bytes.count <= limit else { throw BerthError.invalid("\(what) is too large (over \(limit) bytes)") }
        do { return try JSONDecoder().decode(Self.self, from: Data(bytes)) }
        catch let e as DecodingError { throw BerthError.invalid("invalid \(what): " + e.berthText) }
        catch { throw BerthError.invalid("invalid \(what): \(error)") }
    }
}

extension DecodingError {
    /// One line: where in the document and what was wrong.
    public var berthText: String {
        switch self {
        case .dataCorrupted(let c):
            let path = c.codingPath.map(\.stringValue).joined(separator: ".")
            let why = (c.underlyingError as NSError?)?.localizedDescription ?? c.debugDescription
            return path.isEmpty ? why : "\(path): \(c.debugDescription)"
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .keyNotFound(_, let c):
            let path = c.codingPath.map(\.stringValue).joined(separator: ".")
            return "\(path.isEmpty ? "top level" : path): \(c.debugDescription)"
        @unknown default:
            return "unreadable JSON"
        }
    }
}
