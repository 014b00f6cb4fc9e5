import Foundation

/// A fuzzing loop without libFuzzer: every corpus input, then `runs` inputs made by mutating
/// corpus inputs with a seeded generator (so a run can be repeated). Not coverage-guided; it is
/// what CI runs on every change, while `scripts/fuzz.sh` runs the libFuzzer build.
public struct SeededRunner {
    public let target: FuzzTarget
    public var seed: UInt64

    public init(target: FuzzTarget, seed: UInt64) { self.target = target; self.seed = seed }

    /// The inputs stored for `target` (one file each) under `directory`.
    public static func corpus(_ directory: String) -> [[UInt8]] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
        return names.compactMap { FileManager.default.contents(atPath: directory + "/" + $0).map { [UInt8]($0) } }
    }

    /// Returns the number of inputs run.
    @discardableResult
    public mutating func run(corpus: [[UInt8]], runs: Int) -> Int {
        for input in corpus { target.run(input) }
        let seeds = corpus.isEmpty ? [[]] : corpus
        var g = SplitMix(seed)
        for _ in 0..<runs {
            target.run(Self.mutate(seeds[Int(g.next() % UInt64(seeds.count))], with: &g, splice: seeds))
        }
        return corpus.count + runs
    }

    static let interesting: [[UInt8]] = [
        [0], [0xff], [0x80], [0x7f], Array("-1".utf8), Array("0".utf8), Array("99999999999999999999".utf8),
        Array("9223372036854775807".utf8), Array("1e30".utf8), Array("../".utf8), Array("/".utf8), Array("\n".utf8),
        Array("\"".utf8), Array("{}".utf8), Array("[]".utf8), Array("null".utf8), Array(":".utf8), Array("sha256:".utf8),
        [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], [0x80, 0, 0, 0, 0, 0, 0, 0],
    ]

    static func mutate(_ input: [UInt8], with g: inout SplitMix, splice: [[UInt8]]) -> [UInt8] {
        var b = input
        for _ in 0..<(1 + Int(g.next() % 4)) {
            let pos = b.isEmpty ? 0 : Int(g.next() % UInt64(b.count))
            switch g.next() % 7 {
            case 0 where !b.isEmpty: b[pos] ^= UInt8(1 << (g.next() % 8))
            case 1 where !b.isEmpty: b[pos] = UInt8(truncatingIfNeeded: g.next())
            case 2: b.insert(contentsOf: interesting[Int(g.next() % UInt64(interesting.count))], at: pos)
            case 3 where !b.isEmpty:
                let n = min(b.count - pos, 1 + Int(g.next() % 16))
                b.removeSubrange(pos..<(pos + n))
            case 4 where !b.isEmpty:
                let n = min(b.count - pos, 1 + Int(g.next() % 64))
                b.insert(contentsOf: b[pos..<(pos + n)], at: Int(g.next() % UInt64(b.count)))
            case 5:
                let other = splice[Int(g.next() % UInt64(splice.count))]
                if !other.isEmpty {
                    let from = Int(g.next() % UInt64(other.count))
                    b = Array(b[..<pos]) + Array(other[from...])
                }
            default:
                if b.count < 1 << 16 { b.append(UInt8(truncatingIfNeeded: g.next())) }
            }
        }
        return b
    }
}

/// A small, fast, seedable generator (SplitMix64).
struct SplitMix {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
