import BerthFuzz
import Foundation

#if BERTH_LIBFUZZER
/// libFuzzer's entry point; `BERTH_FUZZ_TARGET` names the target (scripts/fuzz.sh sets it).
let selected: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["BERTH_FUZZ_TARGET"] ?? ""
    guard let t = FuzzTargets.named(name) else {
        fatalError("set BERTH_FUZZ_TARGET to one of: \(FuzzTargets.all.map(\.name).joined(separator: ", "))")
    }
    return t
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    selected.run(size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

typealias FuzzCallback = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
               _ callback: FuzzCallback) -> CInt

/// SwiftPM links an executable's entry point under this name; hand over to libFuzzer's driver.
@_cdecl("berth_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var c = argc
    var v = argv
    return runDriver(&c, &v) { data, size in fuzzOne(data, size) }
}
#else
/// `berth-fuzz TARGET [RUNS [SEED]] [CORPUS-DIR…]`: the corpus, then RUNS seeded mutations.
@main struct FuzzMain {
    static func main() {
        var args = Array(CommandLine.arguments.dropFirst())
        guard let name = args.first, let target = FuzzTargets.named(name) else {
            FileHandle.standardError.write(Data("usage: berth-fuzz TARGET [RUNS [SEED]] [CORPUS-DIR...]; targets: \(FuzzTargets.all.map(\.name).joined(separator: " "))\n".utf8))
            exit(2)
        }
        args.removeFirst()
        let runs = args.first.flatMap { Int($0) } ?? 100_000
        if !args.isEmpty, Int(args[0]) != nil { args.removeFirst() }
        let seed = args.first.flatMap { UInt64($0) } ?? 1
        if !args.isEmpty, UInt64(args[0]) != nil { args.removeFirst() }
        let corpus = args.flatMap { SeededRunner.corpus($0) }
        var runner = SeededRunner(target: target, seed: seed)
        let n = runner.run(corpus: corpus, runs: runs)
        print("\(name): \(n) inputs, no crash")
    }
}
#endif
