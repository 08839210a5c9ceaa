module asbb.test/contract

go 1.19
