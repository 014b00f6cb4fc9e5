import BerthEngine
import BerthExecutor
import BerthModels
import BerthSystem
import Testing

/// API parameters that used to reach an arithmetic trap: each is now a clean answer.
@Suite struct HostileParameterTests {
    @Test func farTimesAreClamped() {
        #expect(Timestamp.parseRFC3339("9999-12-31T23:59:59Z") == Int64.max)
        #expect(Timestamp.parseRFC3339("0001-01-01T00:00:00Z") == Int64.min)
        #expect(Timestamp.parseDockerTime("99999999999") == Int64.max)
        #expect(Timestamp.parseDockerTime("-99999999999999") == Int64.min)
        #expect(Timestamp.parseDockerTime("9999999999999999999999") == nil)
        #expect(Timestamp.parseDockerTime("1.5") == 1_500_000_000)
        #expect(Timestamp.parseDockerTime("-1.5") == -1_500_000_000)
        #expect(Timestamp.parseRFC3339("2026-13-01T00:00:00Z") == nil)
        #expect(Timestamp.parseRFC3339("2026-01-01T25:00:00Z") == nil)
        #expect(Timestamp.parseRFC3339("2026-01-01T00:00:00+99:00") == nil)
        #expect(Timestamp.parseRFC3339("2026-11-29T13:41:18.520332872Z") == 1_795_959_678_520_332_872)
    }

    @Test(arguments: ["RTMIN+2147483647", "RTMAX-2147483647", "RTMIN+-1", "99999999999", "0", "-9", "SIGNOPE", "RTMIN+31"])
    func badSignals(_ s: String) {
        #expect(throws: BerthError.self) { try Signals.parse(s) }
    }

    @Test func goodSignals() throws {
        #expect(try Signals.parse("RTMIN+30") == 64)
        #expect(try Signals.parse("SIGRTMAX-30") == 34)
        #expect(try Signals.parse("sigterm") == 15)
    }

    @Test func hugeMemoryGetsUnlimitedSwap() throws {
        var hc = HostConfig()
        hc.Memory = 5000 << 50  // -m 5000p
        try ResourceRules.check(hc)
        #expect(ResourceRules.defaultSwap(hc.Memory!) == -1)
        #expect(ResourceMapping.resources(hc).memory?.swap == -1)
    }

    @Test func tooManyCPUs() {
        var hc = HostConfig()
        hc.NanoCpus = 100_000 * 1_000_000_000  // --cpus 100000
        do { try ResourceRules.check(hc, cpus: 2); Issue.record("accepted") }
        catch let e as BerthError { #expect(e.message == "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available") }
        catch { Issue.record("\(error)") }
        hc.NanoCpus = Int64.max
        #expect(throws: BerthError.self) { try ResourceRules.check(hc, cpus: 2) }
    }

    @Test func cpuQuotaFromNanoCPUsDoesNotOverflow() {
        var hc = HostConfig()
        hc.NanoCpus = Int64.max
        #expect(ResourceMapping.resources(hc).cpu?.quota == Int64.max / 10_000)
        hc.NanoCpus = 1_500_000_000
        #expect(ResourceMapping.resources(hc).cpu?.quota == 150_000)
    }

    @Test(arguments: ["ENV", "ENV =x", "LABEL", "LABEL =", "LABEL =x", "BOGUS x"])
    func badChanges(_ change: String) {
        var c = ContainerConfig()
        #expect(throws: BerthError.self) { try CommitChanges.apply([change], to: &c) }
    }

    @Test func goodChanges() throws {
        var c = ContainerConfig()
        try CommitChanges.apply(["ENV A=1 B=", "ENV C 3", "LABEL x=y z"], to: &c)
        #expect(c.Env == ["A=1", "B=", "C=3"])
        #expect(c.Labels == ["x": "y", "z": ""])
    }
}
