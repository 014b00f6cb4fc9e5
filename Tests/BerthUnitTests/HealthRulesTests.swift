import BerthEngine
import BerthModels
import Testing

/// Health check rules without I/O: merge, probe forms, the start period, retries, the log.
@Suite struct HealthRulesTests {
    @Test func probeForms() {
        #expect(HealthRules.probe(HealthcheckConfig(Test: ["CMD-SHELL", "test -f /ok"]))?.argv == ["/bin/sh", "-c", "test -f /ok"])
        #expect(HealthRules.probe(HealthcheckConfig(Test: ["CMD", "curl", "-f", "x"]))?.argv == ["curl", "-f", "x"])
        #expect(HealthRules.probe(HealthcheckConfig(Test: ["NONE"])) == nil)
        #expect(HealthRules.probe(HealthcheckConfig(Test: [])) == nil)
        let p = HealthRules.probe(HealthcheckConfig(Test: ["CMD", "true"]))!
        #expect(p.intervalMs == 30_000 && p.timeoutMs == 30_000 && p.retries == 3 && p.startPeriodMs == 0)
    }

    @Test func mergeFieldByField() {
        let image = HealthcheckConfig(Test: ["CMD", "img"], Interval: 5_000_000_000, Retries: 7)
        let user = HealthcheckConfig(Test: nil, Interval: 1_000_000_000)
        let m = HealthRules.merge(user, image: image)!
        #expect(m.Test == ["CMD", "img"] && m.Interval == 1_000_000_000 && m.Retries == 7)
        #expect(HealthRules.merge(HealthcheckConfig(Test: ["NONE"]), image: image)?.Test == ["NONE"])
        #expect(HealthRules.merge(nil, image: image) == image)
    }

    @Test func retriesStartPeriodAndLog() {
        let p = HealthRules.Probe(argv: ["x"], intervalMs: 1000, timeoutMs: 1000, startPeriodMs: 5000, startIntervalMs: 200, retries: 2)
        var s = HealthState(Status: "starting")
        let started: Int64 = 0
        // Failures inside the start period do not count.
        #expect(!HealthRules.record(&s, probe: p, exitCode: 1, output: "", start: 1_000_000_000, end: 1_100_000_000, containerStarted: started))
        #expect(s.Status == "starting" && s.FailingStreak == 0)
        #expect(HealthRules.delayMs(p, sinceStartMs: 1000, state: s) == 200)
        // After it they do, up to the retries.
        #expect(!HealthRules.record(&s, probe: p, exitCode: 1, output: "", start: 6_000_000_000, end: 6_100_000_000, containerStarted: started))
        #expect(HealthRules.record(&s, probe: p, exitCode: 1, output: "", start: 7_000_000_000, end: 7_100_000_000, containerStarted: started))
        #expect(s.Status == "unhealthy" && s.FailingStreak == 2)
        #expect(HealthRules.record(&s, probe: p, exitCode: 0, output: String(repeating: "x", count: 9000), start: 8_000_000_000,
                                   end: 8_100_000_000, containerStarted: started))
        #expect(s.Status == "healthy" && s.FailingStreak == 0 && s.Log.last?.Output.utf8.count == 4096)
        for i in 0..<10 { HealthRules.record(&s, probe: p, exitCode: 0, output: "\(i)", start: 9_000_000_000, end: 9_000_000_001, containerStarted: started) }
        #expect(s.Log.count == 5 && s.Log.last?.Output == "9")
        #expect(HealthRules.delayMs(p, sinceStartMs: 1000, state: s) == 1000)  // healthy: the interval
    }

    @Test func psSuffixes() {
        #expect(HealthRules.psSuffix("starting") == " (health: starting)")
        #expect(HealthRules.psSuffix("healthy") == " (healthy)")
        #expect(HealthRules.psSuffix(nil) == "")
    }
}
