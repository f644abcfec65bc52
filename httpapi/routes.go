package httpapi

import "net/http"

// table lists every endpoint; openapi.json describes exactly these (a test
// holds them together).
func (a *API) table() []route {
	return []route{
		{"GET", "/cluster", "getCluster", AccessRead, a.getCluster},
		{"GET", "/brokers/config", "getBrokerConfigs", AccessAdmin, a.getBrokerConfigs},
		{"POST", "/brokers/{addr}/verify", "verifyBroker", AccessAdmin, a.verifyBroker},
		{"GET", "/topics", "listTopics", AccessRead, a.listTopics},
		{"POST", "/topics", "createTopic", AccessAdmin, a.createTopic},
		{"PUT", "/topics/{topic}", "updateTopic", AccessAdmin, a.updateTopic},
		{"DELETE", "/topics/{topic}", "deleteTopic", AccessAdmin, a.deleteTopic},
		{"GET", "/topics/{topic}/route", "getTopicRoute", AccessRead, a.topicRoute},
		{"GET", "/topics/{topic}/queues", "getTopicQueues", AccessRead, a.topicQueues},
		{"GET", "/topics/{topic}/messages", "searchMessages", AccessReadBodies, a.searchMessages},
		{"POST", "/topics/{topic}/messages", "produce", AccessProduce, a.produce},
		{"GET", "/messages/{id}", "viewMessage", AccessReadBodies, a.viewMessage},
		{"GET", "/messages/{id}/trace", "traceMessage", AccessReadBodies, a.traceMessage},
		{"GET", "/groups", "listGroups", AccessRead, a.listGroups},
		{"GET", "/groups/{group}", "getGroupProgress", AccessRead, a.groupProgress},
		{"GET", "/groups/{group}/connections", "getGroupConnections", AccessRead, a.groupConnections},
		{"POST", "/groups/{group}/reset", "resetOffsets", AccessAdmin, a.resetOffsets},
		{"POST", "/groups/{group}/fetch", "fetch", AccessConsume, a.fetchMessages},
		{"POST", "/groups/{group}/commit", "commitOffsets", AccessConsume, a.commitOffsets},
		{"GET", "/groups/{group}/dlq", "browseDLQ", AccessReadBodies, a.browseDLQ},
		{"POST", "/groups/{group}/dlq/resend", "resendDLQ", AccessAdmin, a.resendDLQ},
		{"GET", "/openapi.json", "getOpenAPI", AccessRead, a.openAPI},
	}
}

func (a *API) openAPI(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write(openapiJSON)
	return err
}
