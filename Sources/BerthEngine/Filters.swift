import BerthSystem
import Foundation

/// Docker's `filters` query parameter: `{"name":["a"]}` or the legacy `{"name":{"a":true}}`.
public struct Filters: Sendable, Equatable {
    public private(set) var values: [String: [String]] = [:]

    public init() {}

    public init(json: String?) throws {
        guard let json, !json.isEmpty else { return }
        guard let obj = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else {
            throw BerthError.invalid("invalid filter '\(json)'")
        }
        for (k, v) in obj {
            if let list = v as? [String] { values[k] = list }
            else if let map = v as? [String: Any] { values[k] = map.keys.sorted() }
            else { throw BerthError.invalid("invalid filter '\(k)'") }
        }
    }

    public subscript(_ key: String) -> [String] { values[key] ?? [] }
    public func has(_ key: String) -> Bool { !(values[key] ?? []).isEmpty }

    /// Rejects keys the endpoint does not know, with dockerd's message.
    public func validate(_ allowed: Set<String>) throws {
        for k in values.keys where !allowed.contains(k) { throw BerthError.invalid("invalid filter '\(k)'") }
    }

    /// `label=key` or `label=key=value` against a label map.
    public static func labelsMatch(_ wanted: [String], _ labels: [String: String]) -> Bool {
        for w in wanted {
            let parts = w.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 1 { if labels[parts[0]] == nil { return false } }
            else if labels[parts[0]] != parts[1] { return false }
        }
        return true
    }
}

/// Durations as Docker's `units.HumanDuration` words them ("Up 5 seconds", "3 minutes ago").
public enum HumanDuration {
    public static func string(seconds s: Int64) -> String {
        if s < 1 { return "Less than a second" }
        if s == 1 { return "1 second" }
        if s < 60 { return "\(s) seconds" }
        let m = s / 60
        if m == 1 { return "About a minute" }
        if m < 60 { return "\(m) minutes" }
        let h = Int64((Double(s) / 3600).rounded())
        if h == 1 { return "About an hour" }
        if h < 48 { return "\(h) hours" }
        if h < 24 * 7 * 2 { return "\(h / 24) days" }
        if h < 24 * 30 * 2 { return "\(h / 24 / 7) weeks" }
        if h < 24 * 365 * 2 { return "\(h / 24 / 30) months" }
        return "\(h / 24 / 365) years"
    }
}

/// Random container names in Docker's adjective_name style.
enum NameGenerator {
    static let left = ["admiring", "agitated", "amazing", "angry", "awesome", "blissful", "bold", "brave", "busy",
                       "charming", "clever", "cool", "compassionate", "confident", "dazzling", "determined", "eager",
                       "ecstatic", "elegant", "epic", "exciting", "festive", "focused", "friendly", "gallant", "gifted",
                       "happy", "hopeful", "inspiring", "jolly", "keen", "kind", "laughing", "loving", "lucid",
                       "magical", "modest", "nifty", "nostalgic", "optimistic", "peaceful", "practical", "quirky",
                       "relaxed", "serene", "sharp", "stoic", "sweet", "tender", "trusting", "vibrant", "wizardly",
                       "youthful", "zealous"]
    static let right = ["albattani", "archimedes", "babbage", "bell", "bohr", "curie", "darwin", "dijkstra",
                        "einstein", "euclid", "euler", "faraday", "fermat", "feynman", "galileo", "gauss", "hopper",
                        "hypatia", "kepler", "knuth", "lamport", "lovelace", "maxwell", "meitner", "newton", "noether",
                        "pascal", "planck", "ritchie", "shannon", "tesla", "thompson", "turing", "wozniak"]

    static func random() -> String { "\(left.randomElement()!)_\(right.randomElement()!)" }
}
