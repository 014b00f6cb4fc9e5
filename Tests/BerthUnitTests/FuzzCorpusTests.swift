import BerthFuzz
import Foundation
import Testing

/// Every fuzz target over its stored corpus (Tests/FuzzCorpus/<target>, which holds the seeds and
/// every input that once crashed), then a few thousand seeded mutations: what the libFuzzer runs
/// of scripts/fuzz.sh found stays fixed. A crash here is a crash of the test process.
@Suite struct FuzzCorpusTests {
    static let corpusRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("FuzzCorpus").path

    @Test(arguments: FuzzTargets.all.map(\.name))
    func corpusAndMutations(_ name: String) throws {
        let target = try #require(FuzzTargets.named(name))
        let corpus = SeededRunner.corpus(Self.corpusRoot + "/" + name)
        #expect(!corpus.isEmpty, "no corpus for \(name)")
        var runner = SeededRunner(target: target, seed: 0x5eed)
        #expect(runner.run(corpus: corpus, runs: 3000) == corpus.count + 3000)
    }
}
