import Foundation

/// Random identifiers and time formats shared by every part of Berth.
public enum Identifier {
    /// 64 lowercase hex characters from the system's secure generator, never all digits
    /// (Docker avoids ids that parse as numbers, which some tools truncate).
    public static func random64() -> String {
        var g = SystemRandomNumberGenerator()
        while true {
            var s = ""
            s.reserveCapacity(64)
            for _ in 0..<4 { s += hex64(g.next()) }
            if s.contains(where: { $0.isLetter }) { return s }
        }
    }

    static func hex64(_ v: UInt64) -> String {
        let h = String(v, radix: 16)
        return String(repeating: "0", count: 16 - h.count) + h
    }

    public static func isHex(_ s: some StringProtocol) -> Bool {
        !s.isEmpty && s.allSatisfy { ("0"..."9").contains($0) || ("a"..."f").contains($0) }
    }
}

/// Timestamps as Docker writes them: RFC 3339 with nanoseconds in UTC.
public enum Timestamp {
    public static func nowNanos() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// `2026-11-29T13:41:18.520332872Z`
    public static func rfc3339(nanos: Int64) -> String {
        let (secs, frac) = split(nanos)
        return dateTime(secs) + (frac != 0 ? "." + String(format: "%09lld", frac) : "") + "Z"
    }

    /// `2026-11-29T13:41:18`, UTC.
    static func dateTime(_ secs: Int64) -> String {
        var t = time_t(secs)
        var tmv = tm()
        gmtime_r(&t, &tmv)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d", Int(tmv.tm_year) + 1900, Int(tmv.tm_mon) + 1,
                      Int(tmv.tm_mday), Int(tmv.tm_hour), Int(tmv.tm_min), Int(tmv.tm_sec))
    }

    /// Whole seconds (rounded down, also before 1970) and the nanoseconds after them (0…999999999).
    static func split(_ nanos: Int64) -> (seconds: Int64, fraction: Int64) {
        var secs = nanos / 1_000_000_000, frac = nanos % 1_000_000_000
        if frac < 0 { secs -= 1; frac += 1_000_000_000 }
        return (secs, frac)
    }

    /// Zero time as Docker prints it for "never".
    public static let zero = "0001-01-01T00:00:00Z"

    /// Parses RFC 3339 (any fraction, Z or offset) into nanoseconds since the epoch. Fields out of
    /// their range are refused; a time beyond what Int64 nanoseconds hold (before 1678, after 2262)
    /// is clamped to the nearest end, so a far-future `created` sorts last instead of trapping.
    public static func parseRFC3339(_ s: String) -> Int64? {
        let u = Array(s.utf8)
        func num(_ a: Int, _ n: Int) -> Int? {
            guard a + n <= u.count else { return nil }
            var v = 0
            for i in a..<(a + n) { guard u[i] >= 48 && u[i] <= 57 else { return nil }; v = v * 10 + Int(u[i] - 48) }
            return v
        }
        guard u.count >= 10, u[4] == UInt8(ascii: "-"), u[7] == UInt8(ascii: "-"),
              let y = num(0, 4), let mo = num(5, 2), let d = num(8, 2) else { return nil }
        var h = 0, mi = 0, se = 0, i = 10
        if u.count > 10 {
            guard u[10] == UInt8(ascii: "T") || u[10] == UInt8(ascii: " "),
                  let hh = num(11, 2), let mm = num(14, 2) else { return nil }
            h = hh; mi = mm; i = 16
            if u.count > 16 && u[16] == UInt8(ascii: ":") { guard let ss = num(17, 2) else { return nil }; se = ss; i = 19 }
        }
        var nanos: Int64 = 0
        if i < u.count && u[i] == UInt8(ascii: ".") {
            i += 1
            var digits = 0
            while i < u.count && u[i] >= 48 && u[i] <= 57 {
                if digits < 9 { nanos = nanos * 10 + Int64(u[i] - 48); digits += 1 }
                i += 1
            }
            while digits < 9 { nanos *= 10; digits += 1 }
        }
        var offset = 0
        if i < u.count {
            if u[i] == UInt8(ascii: "Z") { i += 1 } else if u[i] == UInt8(ascii: "+") || u[i] == UInt8(ascii: "-") {
                guard let oh = num(i + 1, 2), let om = num(i + 4, 2), oh < 24, om < 60 else { return nil }
                offset = (oh * 3600 + om * 60) * (u[i] == UInt8(ascii: "-") ? -1 : 1)
                i += 6
            }
        }
        guard (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, se <= 60 else { return nil }
        var tmv = tm()
        tmv.tm_year = Int32(y - 1900); tmv.tm_mon = Int32(mo - 1); tmv.tm_mday = Int32(d)
        tmv.tm_hour = Int32(h); tmv.tm_min = Int32(mi); tmv.tm_sec = Int32(se)
        let secs = Int64(timegm(&tmv)) - Int64(offset)
        return nanosSaturating(seconds: secs, nanos: nanos)
    }

    /// `seconds * 10⁹ + nanos`, clamped to Int64's range.
    public static func nanosSaturating(seconds: Int64, nanos: Int64) -> Int64 {
        let (m, o1) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if o1 { return seconds < 0 ? Int64.min : Int64.max }
        let (sum, o2) = m.addingReportingOverflow(nanos)
        if o2 { return nanos < 0 ? Int64.min : Int64.max }
        return sum
    }

    /// Docker's `since`/`until` values: Unix seconds with optional fraction, or RFC 3339.
    public static func parseDockerTime(_ s: String) -> Int64? {
        if let r = parseRFC3339(s) { return r }
        let parts = s.split(separator: ".", maxSplits: 1)
        guard let first = parts.first, first.count <= 19, let secs = Int64(first) else { return nil }
        var nanos: Int64 = 0
        if parts.count == 2 {
            let f = parts[1].prefix(9)
            guard !f.isEmpty, f.allSatisfy({ $0.isASCII && $0.isNumber }), let v = Int64(f) else { return nil }
            nanos = v
            for _ in f.count..<9 { nanos *= 10 }
        }
        return nanosSaturating(seconds: secs, nanos: secs < 0 || first.hasPrefix("-") ? -nanos : nanos)
    }
}

extension Timestamp {
    /// Always nine fraction digits, as `docker logs -t` prints.
    public static func rfc3339Fixed(nanos: Int64) -> String {
        let (secs, frac) = split(nanos)
        return dateTime(secs) + "." + String(format: "%09lld", frac) + "Z"
    }
}
