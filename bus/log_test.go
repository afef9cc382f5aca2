package bus

import (
	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
)

func quietLog() logrus.FieldLogger {
	log, _ := test.NewNullLogger()
	return log
}
