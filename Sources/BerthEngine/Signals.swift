#if canImport(Glibc)
import Glibc
#endif
import BerthSystem

/// Signal names and numbers as `docker kill --signal` and `StopSignal` accept them.
public enum Signals {
    static let table: [String: Int32] = [
        "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7, "FPE": 8, "KILL": 9,
        "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15, "STKFLT": 16, "CHLD": 17,
        "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25,
        "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29, "POLL": 29, "PWR": 30, "SYS": 31,
    ]

    /// Parses `SIGTERM`, `TERM`, `15`, `RTMIN+3`.
    public static func parse(_ s: String) throws -> Int32 {
        if let n = Int32(s) {
            guard n > 0 && n <= 64 else { throw BerthError.invalid("Invalid signal: \(s)") }
            return n
        }
        var name = s.uppercased()
        if name.hasPrefix("SIG") { name.removeFirst(3) }
        if let n = table[name] { return n }
        if name.hasPrefix("RTMIN+"), let k = Int32(name.dropFirst(6)), (0...30).contains(k) { return 34 + k }
        if name.hasPrefix("RTMAX-"), let k = Int32(name.dropFirst(6)), (0...30).contains(k) { return 64 - k }
        if name == "RTMIN" { return 34 }
        if name == "RTMAX" { return 64 }
        throw BerthError.invalid("Invalid signal: \(s)")
    }
}
