module sluice.test/notifications

go 1.19
