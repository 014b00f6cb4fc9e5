import BerthModels

/// Values written as Go's `fmt` writes them: the classic builder's history texts are made with
/// `%q` and `%v` (`CMD ["echo" "x"]`, `VOLUME [/data]`, `HEALTHCHECK &{["CMD-SHELL" "true"] "5s" …}`),
/// and `--cache-from` only finds a step when its text is the same byte for byte.
enum GoText {
    /// `%q` of a string (`strconv.Quote`).
    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\u{07}": out += "\\a"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{0B}": out += "\\v"
            default:
                if u.value < 0x20 || u.value == 0x7f { out += "\\x" + hex(u.value, 2) }
                else if u.value >= 0x80 && !printable(u) { out += u.value > 0xffff ? "\\U" + hex(u.value, 8) : "\\u" + hex(u.value, 4) }
                else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }

    /// `%q` of a []string: `["a" "b"]`.
    static func quoteList(_ list: [String]?) -> String { "[" + (list ?? []).map(quote).joined(separator: " ") + "]" }

    /// `%v` of a []string: `[a b]`.
    static func list(_ list: [String]?) -> String { "[" + (list ?? []).joined(separator: " ") + "]" }

    /// `%q` of an int: the rune it is (`'\x00'`, `'A'`).
    static func quoteRune(_ n: Int) -> String {
        guard n >= 0, n <= 0x10FFFF, let u = Unicode.Scalar(UInt32(n)) else { return "'\u{FFFD}'" }
        if u == "'" { return "'\\''" }
        if u == "\"" { return "'\"'" }
        let q = quote(String(Character(u)))
        return "'" + q.dropFirst().dropLast() + "'"
    }

    /// A `time.Duration`'s `String()` (`0s`, `1.5ms`, `5s`, `1m30s`, `1h0m0s`).
    static func duration(_ ns: Int64) -> String {
        if ns == 0 { return "0s" }
        let neg = ns < 0
        var u = ns.magnitude
        var text: String
        if u < 1_000_000_000 {
            if u < 1_000 { text = "\(u)ns" }
            else if u < 1_000_000 { text = fraction(u, 3) + "µs" }
            else { text = fraction(u, 6) + "ms" }
        } else {
            text = fraction(u % 60_000_000_000, 9) + "s"
            u /= 60_000_000_000
            if u > 0 {
                text = "\(u % 60)m" + text
                u /= 60
                if u > 0 { text = "\(u)h" + text }
            }
        }
        return (neg ? "-" : "") + text
    }

    /// `v / 10^digits` with the fraction's trailing zeros dropped.
    static func fraction(_ v: UInt64, _ digits: Int) -> String {
        var p: UInt64 = 1
        for _ in 0..<digits { p *= 10 }
        var frac = String(v % p)
        frac = String(repeating: "0", count: digits - frac.count) + frac
        while frac.hasSuffix("0") { frac.removeLast() }
        return "\(v / p)" + (frac.isEmpty ? "" : "." + frac)
    }

    /// `HEALTHCHECK %q` of the image's healthcheck (Test, Interval, Timeout, StartPeriod,
    /// StartInterval, Retries).
    static func healthcheck(_ h: HealthcheckConfig) -> String {
        let d = [h.Interval, h.Timeout, h.StartPeriod, h.StartInterval].map { quote(duration($0 ?? 0)) }
        return "&{" + quoteList(h.Test) + " " + d.joined(separator: " ") + " " + quoteRune(h.Retries ?? 0) + "}"
    }

    static func hex(_ v: UInt32, _ width: Int) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }

    /// Go's `IsPrint` for what is not ASCII, near enough: letters, marks, numbers, punctuation,
    /// symbols and the plain space.
    static func printable(_ u: Unicode.Scalar) -> Bool {
        switch u.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator: return false
        case .spaceSeparator: return u == " "
        default: return true
        }
    }
}
