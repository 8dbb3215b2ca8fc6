@testable import MagmaSocket
import Testing

/// The client's flow-control rule, pinned as Fuchsia's client tests pin it.
@Suite struct FlowControlBudgetTests {
    @Test func waitsWhenTheMessageBudgetIsSpent() {
        var budget = FlowControlBudget(maxMessages: 3, maxBytes: 1000)
        for _ in 0..<3 {
            #expect(!budget.mustWait(forBytes: 0))
            budget.sent(importing: 0)
        }
        #expect(budget.mustWait(forBytes: 0))
        budget.messagesConsumed(2)
        #expect(!budget.mustWait(forBytes: 0))
        budget.messagesConsumed(10)   // more than in flight: clamps at zero
        #expect(budget.inflightMessages == 0)
    }

    @Test func importsBelowHalfTheByteBudgetAlwaysGo() {
        var budget = FlowControlBudget(maxMessages: 100, maxBytes: 1000)
        #expect(!budget.mustWait(forBytes: 5000), "one oversized import passes when little is in flight")
        budget.sent(importing: 499)
        #expect(!budget.mustWait(forBytes: 5000))
        budget.sent(importing: 1)
        #expect(budget.mustWait(forBytes: 501), "at half the budget, an import that overshoots waits")
        #expect(!budget.mustWait(forBytes: 500), "one that fits goes")
        #expect(!budget.mustWait(forBytes: 0), "messages without memory are not held by bytes")
        budget.memoryImported(500)
        #expect(!budget.mustWait(forBytes: 5000))
    }
}
