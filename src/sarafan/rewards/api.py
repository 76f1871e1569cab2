from ninja import Router

rewards = Router()
certificates = Router()
